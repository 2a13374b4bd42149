// Attach an HLS stream to a <video>: native HLS where the browser has it, else hls.js (lazy).

import type Hls from "hls.js";

type HlsModule = typeof import("hls.js");
let hlsModule: Promise<HlsModule> | null = null;

/**
 * Native HLS only where Media Source Extensions are missing (older iPhones). Chrome now plays
 * HLS natively too, but hls.js there starts on the lowest rung and caps what a slide that is
 * only preloading may buffer, which the feed relies on.
 */
export function nativeHls(video: HTMLVideoElement): boolean {
  const w = window as unknown as { MediaSource?: unknown; ManagedMediaSource?: unknown };
  const mse = typeof w.MediaSource === "function" || typeof w.ManagedMediaSource === "function";
  return !mse && video.canPlayType("application/vnd.apple.mpegurl") !== "";
}

/** Load hls.js once, only when a player needs it (it is a separate chunk). */
export function loadHls(): Promise<HlsModule> {
  hlsModule ??= import("hls.js");
  return hlsModule;
}

export interface Attached {
  destroy(): void;
}

/** Start loading `src` into `video`; `preload` limits buffering for videos not yet on screen. */
export async function attachStream(
  video: HTMLVideoElement,
  urls: Record<string, string>,
  preload: boolean,
): Promise<Attached> {
  const hls = urls.hls;
  if (!hls) {
    if (urls.mp4) video.src = urls.mp4;
    return { destroy: () => video.removeAttribute("src") };
  }
  if (nativeHls(video)) {
    video.src = hls;
    return { destroy: () => video.removeAttribute("src") };
  }
  const { default: HlsJs } = await loadHls();
  if (!HlsJs.isSupported()) {
    if (urls.mp4) video.src = urls.mp4;
    return { destroy: () => video.removeAttribute("src") };
  }
  const player: Hls = new HlsJs({
    // Short videos: start on the lowest rung fast, buffer a little ahead when only preloading.
    startLevel: 0,
    maxBufferLength: preload ? 4 : 30,
    capLevelToPlayerSize: true,
    startFragPrefetch: true,
    enableWorker: true,
  });
  player.loadSource(hls);
  player.attachMedia(video);
  (video as HTMLVideoElement & { _hls?: Hls })._hls = player;
  return {
    destroy: () => {
      player.destroy();
      delete (video as HTMLVideoElement & { _hls?: Hls })._hls;
    },
  };
}
