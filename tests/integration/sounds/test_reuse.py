"""Original sounds made from processed videos, and reusing one under another upload: the
processed video plays the chosen audio (checked by its frequencies), and the sound is credited."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import func, select

from reelstack.runtime import Runtime
from reelstack.sounds import tasks
from reelstack.sounds.models import Sound
from tests.factories import jobs_drained, make_user
from tests.integration.sounds.conftest import HIGH_TONE, LOW_TONE
from tests.integration.sounds.helpers import (
    eventually,
    get_video,
    media_bytes,
    tone_strengths,
    video_sound,
)
from tests.media_helpers import API, upload_video, wait_processed


async def sound_rows(rt: Runtime, video_id: str) -> int:
    async with rt.unit_of_work(write=False) as session:
        count = await session.scalar(
            select(func.count()).select_from(Sound).where(Sound.video_id == video_id)
        )
    return int(count or 0)


async def sound_page(client: httpx.AsyncClient, sound_id: str) -> dict[str, object]:
    r = await client.get(f"{API}/sounds/{sound_id}")
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


async def test_original_sound_then_reuse_replacing_and_mixing(
    client: httpx.AsyncClient, runtime: Runtime, low_tone_clip: Path, high_tone_clip: Path
) -> None:
    alice = await make_user(runtime, "alice")
    bob = await make_user(runtime, "bob")

    # Alice's video becomes ready with its 440 Hz track: an original sound by her.
    source = await upload_video(client, alice, low_tone_clip)
    assert (await wait_processed(client, alice, source))["status"] == "ready"
    card = await video_sound(client, alice, source)
    assert card["title"] == "original sound - @alice"
    assert card["creator"] == {"user_id": alice.id, "username": "alice"}
    assert card["is_original"] is True
    sound_id = card["sound_id"]
    source_video = await get_video(client, alice, source)
    assert source_video["sound_id"] == sound_id

    page = await sound_page(client, sound_id)
    assert page["duration"] == source_video["duration"]
    assert abs(float(str(page["duration"])) - 2.0) < 0.1
    assert page["usage_count"] == 1
    audio = await media_bytes(client, str(page["audio_url"]))
    strengths = tone_strengths(audio, [LOW_TONE, HIGH_TONE])
    assert strengths[LOW_TONE] == 1.0 and strengths[HIGH_TONE] < 0.05, strengths

    # Running the job again changes nothing: still one sound, counted once.
    assert await tasks.create_original_sound(runtime, source) == sound_id
    assert not await tasks.credit_reused_sound(runtime, source)
    assert await sound_rows(runtime, source) == 1
    assert (await sound_page(client, sound_id))["usage_count"] == 1

    # Bob's 1000 Hz upload with Alice's sound (replace, the default) plays her 440 Hz tone.
    replaced = await upload_video(client, bob, high_tone_clip, sound_id=sound_id)
    assert (await wait_processed(client, bob, replaced))["status"] == "ready"
    video = await get_video(client, bob, replaced)
    assert video["sound_id"] == sound_id and video["sound"]["title"] == "original sound - @alice"
    strengths = tone_strengths(
        await media_bytes(client, video["video_urls"]["mp4"]), [LOW_TONE, HIGH_TONE]
    )
    assert strengths[LOW_TONE] == 1.0 and strengths[HIGH_TONE] < 0.05, strengths
    assert abs(video["duration"] - 2.0) < 0.1

    # The same with "mix", sent as a one-request upload: both tones are there.
    r = await client.post(
        f"{API}/videos/upload",
        files={"file": ("mix.mp4", high_tone_clip.read_bytes(), "video/mp4")},
        data={"caption": "duet", "sound_id": sound_id, "sound_mode": "mix"},
        headers=bob.headers,
    )
    assert r.status_code == 202, r.text
    mixed = r.json()["video_id"]
    assert (await wait_processed(client, bob, mixed))["status"] == "ready"
    video = await get_video(client, bob, mixed)
    assert video["sound_id"] == sound_id
    strengths = tone_strengths(
        await media_bytes(client, video["video_urls"]["mp4"]), [LOW_TONE, HIGH_TONE]
    )
    assert min(strengths.values()) > 0.5, strengths

    # Both reuses are credited once the videos are ready; neither got a sound of its own.
    async def credited() -> bool:
        return (await sound_page(client, sound_id))["usage_count"] == 3

    await eventually(credited, what="usage_count 3")
    assert await sound_rows(runtime, replaced) == 0 and await sound_rows(runtime, mixed) == 0
    assert await tasks.credit_reused_sound(runtime, replaced)  # again: no double count
    assert (await sound_page(client, sound_id))["usage_count"] == 3

    r = await client.get(f"{API}/sounds/{sound_id}/videos")
    assert r.status_code == 200, r.text
    assert [v["video_id"] for v in r.json()["videos"]] == [mixed, replaced, source]


async def test_a_silent_video_gets_no_sound(
    client: httpx.AsyncClient, runtime: Runtime, silent_clip: Path
) -> None:
    carol = await make_user(runtime)
    video_id = await upload_video(client, carol, silent_clip)
    assert (await wait_processed(client, carol, video_id))["status"] == "ready"
    await jobs_drained(runtime, "media", timeout=30)
    assert await tasks.create_original_sound(runtime, video_id) is None
    assert await sound_rows(runtime, video_id) == 0
    video = await get_video(client, carol, video_id)
    assert video["sound"] is None and video["sound_id"] is None
