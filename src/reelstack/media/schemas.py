from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from reelstack.errors import Unprocessable
from reelstack.search.text import normalise_tag
from reelstack.social.visibility import Audience
from reelstack.sounds.schemas import SoundCard, SoundMode

MAX_HASHTAGS = 30


def normalise_hashtags(values: list[str]) -> list[str]:
    """'#Cats', 'cats' and ' CATS ' are one hashtag; order is kept, repeats dropped."""
    seen: dict[str, None] = {}
    for raw in values:
        tag = normalise_tag(raw)  # NFKC, case-folded; letters, digits, '_' and emoji
        seen.setdefault(tag, None)
    if len(seen) > MAX_HASHTAGS:
        raise ValueError(f"at most {MAX_HASHTAGS} hashtags")
    return list(seen)


Hashtags = Annotated[list[str], AfterValidator(normalise_hashtags)]
Caption = Annotated[str, Field(max_length=2200)]
Description = Annotated[str, Field(max_length=5000)]
Category = Annotated[str, Field(min_length=1, max_length=50)]


class VideoDetails(BaseModel):
    """What a creator says about a video when uploading it."""

    model_config = ConfigDict(extra="forbid")

    caption: Caption = ""
    description: Description = ""
    hashtags: Hashtags = Field(default_factory=list)
    category: Category | None = None
    visibility: Audience = Audience.PUBLIC
    allow_comments: bool = True
    sound_id: str | None = Field(
        default=None, max_length=26, description="Reuse this sound's audio (GET /sounds/{id})."
    )
    sound_mode: SoundMode = Field(
        default=SoundMode.REPLACE,
        description="With `sound_id`: `replace` the upload's own audio, or `mix` both.",
    )


class UploadInitRequest(VideoDetails):
    file_size: int = Field(gt=0, description="Size of the whole file in bytes.")
    mime_type: str = Field(min_length=1, max_length=100)
    filename: str = Field(min_length=1, max_length=255)


class PresignedPart(BaseModel):
    part_number: int
    url: str
    start: int
    end: int = Field(description="Last byte of the part, inclusive.")


class UploadInitResponse(BaseModel):
    video_id: str
    upload_id: str
    upload_url: str = Field(description="PUT chunks here with a Content-Range header.")
    chunk_size: int
    expires_at: datetime
    parts: list[PresignedPart] | None = Field(
        default=None,
        description="With S3 storage: presigned URLs to PUT each part straight to the bucket.",
    )


class ByteRange(BaseModel):
    start: int
    end: int = Field(description="Inclusive, as in Content-Range.")


class ChunkResponse(BaseModel):
    bytes_uploaded: int
    total_bytes: int
    status: Literal["uploading", "uploaded"]


class UploadState(BaseModel):
    upload_id: str
    video_id: str
    protocol: str
    status: Literal["uploading", "uploaded", "complete"]
    total_bytes: int
    bytes_uploaded: int
    chunk_size: int
    received: list[ByteRange]
    missing: list[ByteRange]
    expires_at: datetime


class CompleteResponse(BaseModel):
    video_id: str
    status: str


class ProcessingError(BaseModel):
    code: str
    detail: str


class VideoStatusResponse(BaseModel):
    video_id: str
    status: str
    progress: int
    renditions_ready: list[str]
    error: ProcessingError | None


class VideoAuthor(BaseModel):
    user_id: str
    username: str
    display_name: str
    avatar_url: str | None
    is_verified: bool


class VideoStats(BaseModel):
    views: int
    likes: int
    comments: int
    shares: int
    saves: int = 0


class UserInteraction(BaseModel):
    liked: bool = False
    saved: bool = False


class Thumbnails(BaseModel):
    posters: dict[str, str] = Field(description="Poster image URL by width in pixels.")
    storyboard_vtt: str | None = Field(
        description="WebVTT thumbnails track for scrubbing; its cues point into a sprite."
    )


class VideoOut(BaseModel):
    video_id: str
    user: VideoAuthor
    caption: str
    description: str
    hashtags: list[str]
    category: str | None
    sound_id: str | None
    sound: SoundCard | None = Field(
        default=None, description="The sound this video uses, if its source is visible."
    )
    duration: float | None
    width: int | None
    height: int | None
    video_urls: dict[str, str] = Field(
        description="`hls` (master playlist), `mp4` (progressive) and one playlist per rung."
    )
    thumbnail_url: str | None
    thumbnails: Thumbnails
    stats: VideoStats
    visibility: Audience
    allow_comments: bool
    status: str
    created_at: datetime
    user_interaction: UserInteraction
    resume_position: float | None = Field(
        default=None, description="Where the viewer stopped watching, in seconds."
    )


class VideoPage(BaseModel):
    videos: list[VideoOut]
    next_cursor: str | None
    has_more: bool


class UpdateVideoRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    caption: Caption | None = None
    description: Description | None = None
    hashtags: Hashtags | None = None
    category: Category | None = None
    visibility: Audience | None = None
    allow_comments: bool | None = None


class DeletedResponse(BaseModel):
    success: bool
    message: str


def upload_request_from_fields(where: str, **fields: Any) -> UploadInitRequest:
    """An upload's details sent as loose text (multipart form fields, tus Upload-Metadata):
    hashtags space- or comma-separated, empty values meaning unset. Refusals name `where`."""
    hashtags = str(fields.pop("hashtags", "") or "").replace(",", " ").split()
    present = {name: value for name, value in fields.items() if value not in (None, "")}
    try:
        return UploadInitRequest(hashtags=hashtags, **present)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise Unprocessable(f"{where} {field}: {first['msg']}", code="validation_failed") from None
