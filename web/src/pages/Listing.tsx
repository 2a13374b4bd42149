// Hashtag and sound pages: a header and a grid of their videos.

import { useState } from "preact/hooks";
import { api, optional, qs } from "../api";
import { Paged } from "../components/Paged";
import { VideoGrid } from "../components/VideoGrid";
import type { Hashtag, Sound, Video, VideoPage } from "../types";
import { formatCount, useLoad } from "../util";

const EMPTY: VideoPage = { videos: [], next_cursor: null, has_more: false };

export function TagPage({ tag }: { tag: string }) {
  const info = useLoad(() => optional<Hashtag | null>(api<Hashtag>(`/hashtags/${encodeURIComponent(tag)}`), null), [tag]);
  return (
    <main class="page" id="main">
      <h1>#{tag}</h1>
      {info.data && (
        <p class="muted">
          {formatCount(info.data.video_count)} videos · {formatCount(info.data.view_count)} views
        </p>
      )}
      <Paged<VideoPage, Video>
        deps={[tag]}
        load={(cursor) => optional(api<VideoPage>(`/hashtags/${encodeURIComponent(tag)}/videos${qs({ cursor, page_size: 24 })}`), EMPTY)}
        items={(p) => p.videos}
        render={(videos) => <VideoGrid videos={videos} empty={`No videos with #${tag} yet.`} />}
      />
    </main>
  );
}

export function SoundPage({ id }: { id: string }) {
  const info = useLoad(() => optional<Sound | null>(api<Sound>(`/sounds/${encodeURIComponent(id)}`), null), [id]);
  const [playing, setPlaying] = useState(false);
  const s = info.data;
  return (
    <main class="page" id="main">
      <h1>♫ {s ? s.title : "Sound"}</h1>
      {s && (
        <>
          <p class="muted">
            by <a href={`/@${s.creator.username}`}>@{s.creator.username}</a> · {formatCount(s.usage_count)} videos
          </p>
          {s.audio_url && (
            <audio controls src={s.audio_url} onPlay={() => setPlaying(true)} onPause={() => setPlaying(false)} aria-label={`Play ${s.title}`} />
          )}
          <p>
            <a class="btn" href={`/upload?sound=${encodeURIComponent(s.sound_id)}`}>
              Use this sound
            </a>
            {playing && <span class="sr-only">Playing</span>}
          </p>
        </>
      )}
      {!s && !info.loading && <p class="empty">This sound is not available.</p>}
      <Paged<VideoPage, Video>
        deps={[id]}
        load={(cursor) => optional(api<VideoPage>(`/sounds/${encodeURIComponent(id)}/videos${qs({ cursor, page_size: 24 })}`), EMPTY)}
        items={(p) => p.videos}
        render={(videos) => <VideoGrid videos={videos} empty="No videos use this sound yet." />}
      />
    </main>
  );
}
