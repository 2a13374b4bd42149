"""Avatar images: checked by content, never trusted by name or declared type, re-encoded."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from reelstack.errors import Unprocessable, UnsupportedMediaType

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF"})
AVATAR_SIZES = {"small": 64, "medium": 256, "large": 512}
MIN_SIDE = 32
MAX_SIDE = 8000
MAX_PIXELS = 40_000_000


def render_avatar(data: bytes) -> dict[str, bytes]:
    """Square WebP renditions of an uploaded image, one per size. EXIF and every other piece of
    metadata (a phone photo's GPS position) is dropped by the re-encode."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format
                width, height = probe.size
                if fmt not in ALLOWED_FORMATS:
                    raise UnsupportedMediaType(
                        "Avatars must be JPEG, PNG, WebP or GIF images.", code="unsupported_image"
                    )
                if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
                    raise Unprocessable(
                        f"The image is larger than {MAX_SIDE} px on a side.", code="image_too_large"
                    )
                if min(width, height) < MIN_SIDE:
                    raise Unprocessable(
                        f"The image is smaller than {MIN_SIDE} px on a side.",
                        code="image_too_small",
                    )
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.seek(0)  # the first frame of an animation
                image.load()
                picture = ImageOps.exif_transpose(image).convert("RGB")
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        SyntaxError,
        ValueError,
    ) as exc:
        raise UnsupportedMediaType(
            "The file is not an image we can read.", code="unsupported_image"
        ) from exc
    side = min(picture.size)
    square = ImageOps.fit(picture, (side, side), method=Image.Resampling.LANCZOS)
    out: dict[str, bytes] = {}
    for name, size in AVATAR_SIZES.items():
        rendition = (
            square if side <= size else square.resize((size, size), Image.Resampling.LANCZOS)
        )
        buf = io.BytesIO()
        rendition.save(buf, format="WEBP", quality=85, method=4)
        out[name] = buf.getvalue()
    return out
