// Watch-time accounting for one video on screen: views and resume positions for the API.

import { api, session } from "./api";

export type ViewSource = "for_you" | "following" | "profile" | "search" | "share" | "hashtag" | "sound";

const SESSION_ID = (() => {
  const key = "reelstack.session";
  let id = sessionStorage.getItem(key);
  if (!id) {
    id = Math.random().toString(36).slice(2, 14);
    sessionStorage.setItem(key, id);
  }
  return id;
})();

/** Counts real playing time of one <video> and reports it when the viewer moves on. */
export class WatchTracker {
  private watchedMs = 0;
  private lastTime: number | null = null;
  private lastPositionSent = 0;
  private reported = false;

  constructor(
    private readonly videoId: string,
    private readonly source: ViewSource,
  ) {}

  /** Feed every `timeupdate`: adds the media time that passed since the last one. */
  tick(video: HTMLVideoElement): void {
    const now = video.currentTime;
    if (this.lastTime !== null) {
      const delta = now - this.lastTime;
      // A loop restarts at 0 (negative delta) and a seek jumps: neither is watching time.
      if (delta > 0 && delta < 1.5) this.watchedMs += delta * 1000;
    }
    this.lastTime = now;
    if (session.signedIn && Date.now() - this.lastPositionSent > 5000 && video.duration > 0) {
      this.lastPositionSent = Date.now();
      this.sendPosition(video);
    }
  }

  pause(): void {
    this.lastTime = null;
  }

  private sendPosition(video: HTMLVideoElement): void {
    const duration = video.duration;
    if (!(duration > 0) || !Number.isFinite(duration)) return;
    api<void>(`/videos/${this.videoId}/watch-position`, {
      method: "POST",
      body: { duration, position: Math.min(video.currentTime, duration) },
    }).catch(() => undefined);
  }

  /** Report the view once (when the video leaves the screen or the page is hidden). */
  finish(video: HTMLVideoElement | null): void {
    this.lastTime = null;
    if (this.reported || this.watchedMs < 250) return;
    const duration = video?.duration ?? 0;
    if (!(duration > 0) || !Number.isFinite(duration)) return;
    this.reported = true;
    const durationMs = Math.round(duration * 1000);
    // The API refuses more than 1.5 loops plus slack: loops past that add nothing.
    const watchedMs = Math.min(Math.round(this.watchedMs), Math.floor(durationMs * 1.5) + 1000);
    api(`/videos/${this.videoId}/views`, {
      method: "POST",
      body: { duration_ms: durationMs, watched_ms: watchedMs, source: this.source, session_id: SESSION_ID },
    }).catch(() => undefined);
    if (session.signedIn && video) this.sendPosition(video);
  }
}
