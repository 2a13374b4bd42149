// Shared hooks and small presentational pieces.

import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { ApiError, session } from "./api";
import type { Me, VideoAuthor } from "./types";

export function useSession(): Me | null {
  const [me, setMe] = useState(session.me);
  useEffect(() => {
    const unsubscribe = session.subscribe(() => setMe(session.me));
    // The session may have loaded between the first render and this subscription.
    setMe(session.me);
    return unsubscribe;
  }, []);
  return me;
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message || "Something went wrong.";
  return "Something went wrong.";
}

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
  set: (value: T) => void;
}

/** Run `load` when `deps` change; keep its result, error and loading state. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: string | null; loading: boolean }>({
    data: null,
    error: null,
    loading: true,
  });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true, error: null }));
    load().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (err: unknown) => live && setState({ data: null, error: errorText(err), loading: false }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const set = useCallback((data: T) => setState({ data, error: null, loading: false }), []);
  return { ...state, reload, set };
}

export function formatCount(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0).replace(/\.0$/, "")}K`;
  return `${(n / 1_000_000).toFixed(1).replace(/\.0$/, "")}M`;
}

export function timeAgo(iso: string): string {
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function Avatar({ user, size = 40 }: { user: Pick<VideoAuthor, "username" | "avatar_url">; size?: number }) {
  const style = { width: `${size}px`, height: `${size}px`, fontSize: `${Math.round(size / 2.4)}px` };
  return user.avatar_url ? (
    <img class="avatar" src={user.avatar_url} alt="" style={style} loading="lazy" />
  ) : (
    <span class="avatar avatar-letter" style={style} aria-hidden="true">
      {user.username.slice(0, 1).toUpperCase()}
    </span>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

export function ErrorBox({ error }: { error: string | null }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}

export function Spinner({ label = "Loading" }: { label?: string }) {
  return (
    <div class="spinner" role="status" aria-label={label}>
      <span />
    </div>
  );
}

/** Split a caption into text, #hashtag and @mention links. */
export function Caption({ text }: { text: string }) {
  const parts = text.split(/([#@][\p{L}\p{N}_.]+)/u);
  return (
    <>
      {parts.map((part, i) => {
        if (part.startsWith("#") && part.length > 1)
          return (
            <a key={i} href={`/tag/${encodeURIComponent(part.slice(1).toLowerCase())}`}>
              {part}
            </a>
          );
        if (part.startsWith("@") && part.length > 1)
          return (
            <a key={i} href={`/@${encodeURIComponent(part.slice(1).replace(/\.$/, ""))}`}>
              {part}
            </a>
          );
        return part;
      })}
    </>
  );
}

/** Hashtags typed into a caption, lowercased and without '#'. */
export function hashtagsIn(text: string): string[] {
  const tags = [...text.matchAll(/#([\p{L}\p{N}_]+)/gu)].map((m) => m[1].toLowerCase());
  return [...new Set(tags)];
}

export function reducedMotion(): boolean {
  return window.matchMedia?.("(prefers-reduced-motion: reduce)").matches ?? false;
}
