// A single video (/v/{id}), then related videos below it in the same vertical feed.

import { useCallback } from "preact/hooks";
import { api, optional, qs } from "../api";
import { Feed } from "../components/Feed";
import type { Video, VideoPage as VideoPageT } from "../types";

export function VideoPage({ id }: { id: string }) {
  const load = useCallback(
    async (cursor: string | null): Promise<VideoPageT> => {
      const empty: VideoPageT = { videos: [], next_cursor: null, has_more: false };
      if (cursor) return optional(api<VideoPageT>(`/videos/${id}/related${qs({ cursor, page_size: 10 })}`), empty);
      const [video, related] = await Promise.all([
        api<Video>(`/videos/${encodeURIComponent(id)}`),
        optional(api<VideoPageT>(`/videos/${id}/related${qs({ page_size: 10 })}`), empty).catch(() => empty),
      ]);
      return { ...related, videos: [video, ...related.videos.filter((v) => v.video_id !== id)] };
    },
    [id],
  );
  return (
    <div class="home">
      <Feed load={load} source="share" label="Video" empty="This video is not available." />
    </div>
  );
}
