// A grid of video thumbnails; hover (or long-press) plays a silent preview.

import { useRef, useState } from "preact/hooks";
import type { Video } from "../types";
import { Empty, formatCount } from "../util";

export function VideoGrid({ videos, empty }: { videos: Video[]; empty?: string }) {
  if (!videos.length) return <Empty>{empty ?? "No videos yet."}</Empty>;
  return (
    <ul class="grid" role="list">
      {videos.map((v) => (
        <GridItem key={v.video_id} video={v} />
      ))}
    </ul>
  );
}

function GridItem({ video }: { video: Video }) {
  const [preview, setPreview] = useState(false);
  const timer = useRef(0);
  const mp4 = video.video_urls.mp4;
  const start = () => mp4 && setPreview(true);
  const stop = () => {
    clearTimeout(timer.current);
    setPreview(false);
  };
  const label = `${video.caption || "Video"} by @${video.user.username}, ${formatCount(video.stats.views)} views`;
  return (
    <li class="grid-item" data-video-id={video.video_id}>
      <a
        href={`/v/${video.video_id}`}
        aria-label={label}
        onMouseEnter={start}
        onMouseLeave={stop}
        onFocus={start}
        onBlur={stop}
        onTouchStart={() => (timer.current = window.setTimeout(start, 400))}
        onTouchEnd={stop}
      >
        {video.thumbnail_url ? <img src={video.thumbnail_url} alt="" loading="lazy" /> : <div class="thumb-missing">{video.status === "ready" ? "▶" : video.status}</div>}
        {preview && mp4 && <video src={mp4} muted autoPlay loop playsInline aria-hidden="true" />}
        <span class="views" aria-hidden="true">▶ {formatCount(video.stats.views)}</span>
        {video.visibility !== "public" && <span class="badge-vis">{video.visibility}</span>}
      </a>
    </li>
  );
}
