// The full-screen vertical feed: one video at a time, snap scrolling, the next two preloaded.

import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import type { Video, VideoPage } from "../types";
import type { ViewSource } from "../watch";
import { Empty, ErrorBox, Spinner, errorText, reducedMotion } from "../util";
import { VideoSlide } from "./VideoSlide";

const PRELOAD_AHEAD = 2;

interface Props {
  load: (cursor: string | null) => Promise<VideoPage>;
  source: ViewSource;
  empty: preact.ComponentChildren;
  label: string;
  /** Start at this video (a grid thumbnail opened in the feed). */
  hideFollow?: boolean;
}

export function Feed({ load, source, empty, label, hideFollow }: Props) {
  const [videos, setVideos] = useState<Video[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [hasMore, setHasMore] = useState(true);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [active, setActive] = useState(0);
  const [muted, setMuted] = useState(true);
  const box = useRef<HTMLDivElement>(null);
  const busy = useRef(false);

  const more = useCallback(
    async (from: string | null, reset: boolean) => {
      if (busy.current) return;
      busy.current = true;
      setLoading(true);
      try {
        const page = await load(from);
        setVideos((old) => {
          const seen = new Set(reset ? [] : old.map((v) => v.video_id));
          const fresh = page.videos.filter((v) => !seen.has(v.video_id));
          return reset ? fresh : [...old, ...fresh];
        });
        setCursor(page.next_cursor);
        setHasMore(page.has_more && page.next_cursor !== null);
        setError(null);
      } catch (err) {
        setError(errorText(err));
        setHasMore(false);
      } finally {
        busy.current = false;
        setLoading(false);
      }
    },
    [load],
  );

  useEffect(() => {
    setVideos([]);
    setActive(0);
    setHasMore(true);
    box.current?.scrollTo({ top: 0 });
    void more(null, true);
  }, [more]);

  useEffect(() => {
    if (hasMore && !loading && videos.length > 0 && active >= videos.length - 3) void more(cursor, false);
  }, [active, videos.length, hasMore, loading, cursor, more]);

  // The slide most in view is the active one.
  useEffect(() => {
    const root = box.current;
    if (!root) return;
    const observer = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          if (e.isIntersecting && e.intersectionRatio >= 0.6) setActive(Number((e.target as HTMLElement).dataset.index));
        }
      },
      { root, threshold: [0.6] },
    );
    root.querySelectorAll<HTMLElement>(".slide").forEach((el) => observer.observe(el));
    return () => observer.disconnect();
  }, [videos.length]);

  const go = (index: number) => {
    const root = box.current;
    const target = root?.querySelectorAll<HTMLElement>(".slide")[index];
    if (!target) return;
    target.scrollIntoView({ behavior: reducedMotion() ? "auto" : "smooth", block: "start" });
    setActive(index);
  };

  const onKey = (e: KeyboardEvent) => {
    if ((e.target as HTMLElement).closest("input, textarea, [role=dialog]")) return;
    if (e.key === "ArrowDown" || e.key === "j" || e.key === "PageDown") {
      e.preventDefault();
      go(Math.min(active + 1, videos.length - 1));
    } else if (e.key === "ArrowUp" || e.key === "k" || e.key === "PageUp") {
      e.preventDefault();
      go(Math.max(active - 1, 0));
    } else if (e.key === "m") {
      setMuted((m) => !m);
    }
  };

  const remove = (id: string) => setVideos((vs) => vs.filter((v) => v.video_id !== id));

  if (!videos.length) {
    return (
      <section class="feed-empty" aria-label={label}>
        {loading ? <Spinner /> : error ? <ErrorBox error={error} /> : <Empty>{empty}</Empty>}
      </section>
    );
  }
  return (
    <div class="feed" ref={box} tabIndex={0} onKeyDown={onKey} aria-label={`${label}: use arrow keys to move between videos`} role="feed" aria-busy={loading}>
      {videos.map((video, index) => (
        <VideoSlide
          key={video.video_id}
          video={video}
          index={index}
          active={index === active}
          attach={index >= active - 1 && index <= active + PRELOAD_AHEAD}
          muted={muted}
          setMuted={setMuted}
          source={source}
          hideFollow={hideFollow}
          onNotInterested={() => remove(video.video_id)}
          total={videos.length}
        />
      ))}
      {!hasMore && <div class="feed-end">You're all caught up.</div>}
    </div>
  );
}
