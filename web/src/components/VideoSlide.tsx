// One video of the feed: the player, the action rail, caption, sound and creator.

import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, api, session } from "../api";
import { navigate } from "../router";
import { attachStream, type Attached } from "../player";
import { toast } from "../toast";
import type { FollowState, Video } from "../types";
import { Avatar, Caption, errorText, formatCount } from "../util";
import { WatchTracker, type ViewSource } from "../watch";
import { CommentsDrawer } from "./Comments";

interface Props {
  video: Video;
  index: number;
  total: number;
  active: boolean;
  attach: boolean;
  muted: boolean;
  setMuted: (m: boolean) => void;
  source: ViewSource;
  hideFollow?: boolean;
  onNotInterested: () => void;
}

declare global {
  interface Window {
    __reelstack?: { firstPlayingMs?: number };
  }
}

function requireSignIn(): boolean {
  if (session.signedIn) return true;
  navigate(`/login?next=${encodeURIComponent(location.pathname)}`);
  return false;
}

export function VideoSlide(props: Props) {
  const { video, active, attach, muted } = props;
  const el = useRef<HTMLVideoElement>(null);
  const tracker = useRef(new WatchTracker(video.video_id, props.source));
  const [liked, setLiked] = useState(!!video.user_interaction.liked);
  const [saved, setSaved] = useState(!!video.user_interaction.saved);
  const [stats, setStats] = useState(video.stats);
  const [following, setFollowing] = useState<boolean | null>(null);
  const [comments, setComments] = useState(false);
  const [menu, setMenu] = useState(false);
  const [paused, setPaused] = useState(false);
  const mine = session.me?.user_id === video.user.user_id;

  // Attach the stream while the slide is near the screen; detach it when far away.
  useEffect(() => {
    const v = el.current;
    if (!v || !attach) return;
    let attached: Attached | null = null;
    let live = true;
    attachStream(v, video.video_urls, !active).then((a) => {
      if (live) attached = a;
      else a.destroy();
    });
    return () => {
      live = false;
      attached?.destroy();
    };
  }, [attach, video.video_id]);

  useEffect(() => {
    const v = el.current;
    if (!v) return;
    if (active) {
      setPaused(false);
      v.play().catch(() => {
        // Not yet loaded, or autoplay refused: retried on canplay / shown as paused.
      });
    } else {
      v.pause();
      tracker.current.finish(v);
    }
  }, [active]);

  useEffect(() => {
    const v = el.current;
    if (!v) return;
    const finish = () => document.visibilityState === "hidden" && tracker.current.finish(v);
    document.addEventListener("visibilitychange", finish);
    return () => {
      document.removeEventListener("visibilitychange", finish);
      tracker.current.finish(v);
    };
  }, []);

  const onCanPlay = () => {
    const v = el.current;
    if (v && active && v.paused && !paused) v.play().catch(() => undefined);
  };

  const onPlaying = () => {
    window.__reelstack ??= {};
    window.__reelstack.firstPlayingMs ??= performance.now();
  };

  const togglePlay = () => {
    const v = el.current;
    if (!v) return;
    if (muted) {
      // The first tap turns the sound on; later taps pause and resume.
      props.setMuted(false);
      if (v.paused) v.play().catch(() => undefined);
      return;
    }
    if (v.paused) {
      setPaused(false);
      v.play().catch(() => undefined);
    } else {
      setPaused(true);
      v.pause();
    }
  };

  const act = async (fn: () => Promise<void>) => {
    if (!requireSignIn()) return;
    try {
      await fn();
    } catch (err) {
      toast(errorText(err));
    }
  };

  const like = () =>
    act(async () => {
      const r = await api<{ liked: boolean; like_count: number }>(`/videos/${video.video_id}/like`, {
        method: liked ? "DELETE" : "POST",
      });
      setLiked(r.liked);
      setStats((s) => ({ ...s, likes: r.like_count }));
    });

  const save = () =>
    act(async () => {
      const r = await api<{ saved: boolean; save_count: number }>(`/videos/${video.video_id}/save`, {
        method: saved ? "DELETE" : "POST",
      });
      setSaved(r.saved);
      setStats((s) => ({ ...s, saves: r.save_count }));
      toast(r.saved ? "Saved" : "Removed from saved");
    });

  const share = async () => {
    let url = `${location.origin}/v/${video.video_id}`;
    const nativeShare = typeof navigator.share === "function";
    const type = nativeShare ? "external" : "internal";
    try {
      if (session.signedIn) {
        const r = await api<{ share_url: string; share_count: number }>(`/videos/${video.video_id}/share`, {
          method: "POST",
          body: { type, platform: nativeShare ? "native" : "copy_link" },
        });
        url = r.share_url || url;
        setStats((s) => ({ ...s, shares: r.share_count }));
      }
      if (nativeShare) {
        await navigator.share({ title: video.caption || `@${video.user.username}`, url });
      } else {
        await navigator.clipboard.writeText(url);
        toast("Link copied");
      }
    } catch (err) {
      if (!(err instanceof DOMException && err.name === "AbortError")) toast(`Link: ${url}`);
    }
  };

  const follow = () =>
    act(async () => {
      const r = await api<FollowState>(`/users/${video.user.user_id}/follow`, {
        method: following ? "DELETE" : "POST",
      });
      setFollowing(r.is_following || r.follow_requested);
      toast(r.follow_requested ? "Follow requested" : r.is_following ? `Following @${video.user.username}` : "Unfollowed");
    });

  const notInterested = () =>
    act(async () => {
      setMenu(false);
      try {
        await api<void>(`/videos/${video.video_id}/not-interested`, { method: "POST" });
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      }
      toast("You'll see fewer videos like this");
      props.onNotInterested();
    });

  const poster = video.thumbnail_url ?? undefined;
  const soundTitle = video.sound?.title;
  return (
    <article
      class="slide"
      data-index={props.index}
      data-video-id={video.video_id}
      aria-label={`Video ${props.index + 1} of ${props.total} by @${video.user.username}`}
      aria-current={active ? "true" : undefined}
    >
      <video
        ref={el}
        class="player"
        poster={poster}
        muted={muted}
        loop
        playsInline
        preload={attach ? "auto" : "none"}
        onTimeUpdate={() => el.current && tracker.current.tick(el.current)}
        onPause={() => tracker.current.pause()}
        onCanPlay={onCanPlay}
        onPlaying={onPlaying}
        onClick={togglePlay}
        aria-label={video.caption || `Video by @${video.user.username}`}
      />
      <button class="sound-toggle" onClick={() => props.setMuted(!muted)} aria-label={muted ? "Turn sound on" : "Mute"} aria-pressed={!muted}>
        {muted ? "♪̸" : "♪"}
      </button>
      {paused && <div class="paused-badge" aria-hidden="true">▶</div>}
      <div class="overlay">
        <div class="meta">
          <a class="creator" href={`/@${video.user.username}`}>
            @{video.user.username}
            {video.user.is_verified && <span aria-label="verified"> ✔</span>}
          </a>
          {video.caption && (
            <p class="caption">
              <Caption text={video.caption} />
            </p>
          )}
          {video.hashtags.length > 0 && (
            <p class="tags">
              {video.hashtags.filter((t) => !video.caption.toLowerCase().includes(`#${t}`)).map((t) => (
                <a key={t} href={`/tag/${encodeURIComponent(t)}`}>#{t} </a>
              ))}
            </p>
          )}
          {video.sound_id && (
            <a class="sound-link" href={`/sound/${video.sound_id}`}>
              ♫ {soundTitle ?? "Original sound"}
            </a>
          )}
          {video.reason && <p class="reason">{video.reason}</p>}
        </div>
        <div class="rail">
          <div class="rail-avatar">
            <a href={`/@${video.user.username}`} aria-label={`@${video.user.username}'s profile`}>
              <Avatar user={video.user} size={48} />
            </a>
            {!mine && !props.hideFollow && following !== true && (
              <button class="follow-plus" onClick={follow} aria-label={`Follow @${video.user.username}`}>
                +
              </button>
            )}
          </div>
          <button class={liked ? "action on" : "action"} onClick={like} aria-pressed={liked} aria-label={liked ? "Unlike" : "Like"}>
            <span aria-hidden="true">♥</span>
            <span class="count" data-testid="like-count">{formatCount(stats.likes)}</span>
          </button>
          <button class="action" onClick={() => setComments(true)} aria-label={`Comments (${stats.comments})`} disabled={!video.allow_comments && stats.comments === 0}>
            <span aria-hidden="true">❝</span>
            <span class="count" data-testid="comment-count">{formatCount(stats.comments)}</span>
          </button>
          <button class={saved ? "action on" : "action"} onClick={save} aria-pressed={saved} aria-label={saved ? "Unsave" : "Save"}>
            <span aria-hidden="true">⚑</span>
            <span class="count">{formatCount(stats.saves ?? 0)}</span>
          </button>
          <button class="action" onClick={share} aria-label="Share">
            <span aria-hidden="true">↗</span>
            <span class="count">{formatCount(stats.shares)}</span>
          </button>
          <div class="menu-wrap">
            <button class="action" onClick={() => setMenu(!menu)} aria-haspopup="menu" aria-expanded={menu} aria-label="More options">
              <span aria-hidden="true">⋯</span>
            </button>
            {menu && (
              <div class="menu" role="menu">
                <button role="menuitem" onClick={notInterested}>Not interested</button>
                <a role="menuitem" href={`/v/${video.video_id}`}>Open video page</a>
                <button role="menuitem" onClick={() => setMenu(false)}>Cancel</button>
              </div>
            )}
          </div>
        </div>
      </div>
      {comments && (
        <CommentsDrawer
          video={video}
          onClose={() => setComments(false)}
          onCount={(n) => setStats((s) => ({ ...s, comments: n }))}
        />
      )}
    </article>
  );
}
