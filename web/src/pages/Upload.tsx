// Upload: pick, preview, caption with hashtag suggestions, resumable upload, processing status.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, optional, qs } from "../api";
import type { Hashtag, Suggestion, VideoStatus, Visibility } from "../types";
import { forgetUpload, isGone, savedUpload, sameFile, sendMissing, startUpload, type PendingUpload } from "../upload";
import { ErrorBox, errorText, hashtagsIn, useSession } from "../util";

type Phase = "pick" | "uploading" | "paused" | "processing" | "ready" | "failed";

export function Upload() {
  const me = useSession();
  const [file, setFile] = useState<File | null>(null);
  const [preview, setPreview] = useState<string | null>(null);
  const [caption, setCaption] = useState("");
  const [visibility, setVisibility] = useState<Visibility>("public");
  const [allowComments, setAllowComments] = useState(true);
  const [phase, setPhase] = useState<Phase>("pick");
  const [sent, setSent] = useState(0);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState<PendingUpload | null>(() => savedUpload());
  const [status, setStatus] = useState<VideoStatus | null>(null);
  const [suggestions, setSuggestions] = useState<string[]>([]);
  const abort = useRef<AbortController | null>(null);
  const soundId = new URLSearchParams(location.search).get("sound");

  useEffect(() => () => abort.current?.abort(), []);
  useEffect(() => () => void (preview && URL.revokeObjectURL(preview)), [preview]);

  // Hashtag suggestions for the word being typed, from search (trending when empty).
  const partial = /#([\p{L}\p{N}_]*)$/u.exec(caption)?.[1];
  useEffect(() => {
    if (partial === undefined) return setSuggestions([]);
    let live = true;
    const timer = setTimeout(async () => {
      try {
        const tags = partial
          ? (await optional(api<{ suggestions: Suggestion[] }>(`/search/suggest${qs({ q: `#${partial}` })}`), { suggestions: [] })).suggestions
              .filter((s) => s.type === "hashtag")
              .map((s) => s.text.replace(/^#/, ""))
          : (await optional(api<{ hashtags: Hashtag[] }>(`/trending/hashtags${qs({ limit: 8 })}`), { hashtags: [] })).hashtags.map((h) => h.tag);
        if (live) setSuggestions(tags.slice(0, 8));
      } catch {
        if (live) setSuggestions([]);
      }
    }, 200);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [partial]);

  if (!me) {
    return (
      <main class="page narrow" id="main">
        <h1>Upload</h1>
        <p class="empty">
          <a href="/login?next=/upload">Sign in</a> to upload videos.
        </p>
      </main>
    );
  }

  const pick = (e: Event) => {
    const f = (e.target as HTMLInputElement).files?.[0] ?? null;
    setError(null);
    if (!f) return;
    if (pending && !sameFile(pending, f)) {
      setError(`That is not the interrupted file. Pick "${pending.name}" to resume, or discard the interrupted upload.`);
      return;
    }
    setFile(f);
    setPreview(URL.createObjectURL(f));
    if (pending) void run(pending, f);
  };

  const pollStatus = async (videoId: string) => {
    setPhase("processing");
    for (;;) {
      const s = await api<VideoStatus>(`/videos/${videoId}/status`);
      setStatus(s);
      if (s.status === "ready") {
        setPhase("ready");
        return;
      }
      if (s.status === "failed" || s.status === "rejected") {
        setPhase("failed");
        setError(s.error?.detail ?? "Processing failed.");
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  };

  const run = async (p: PendingUpload, f: File) => {
    const controller = new AbortController();
    abort.current = controller;
    setPhase("uploading");
    setError(null);
    try {
      const done = await sendMissing(p, f, (s, t) => (setSent(s), setTotal(t)), controller.signal);
      if (!done) return setPhase("paused");
      forgetUpload();
      setPending(null);
      await pollStatus(p.video_id);
    } catch (err) {
      if (isGone(err)) {
        forgetUpload();
        setPending(null);
        setPhase("pick");
        setError("The interrupted upload expired. Start it again.");
      } else {
        setPhase("paused");
        setError(errorText(err));
      }
    }
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!file) return;
    setError(null);
    try {
      const p = await startUpload(file, {
        caption,
        hashtags: hashtagsIn(caption),
        visibility,
        allow_comments: allowComments,
        sound_id: soundId,
      });
      setPending(p);
      await run(p, file);
    } catch (err) {
      setError(errorText(err));
    }
  };

  const complete = (tag: string) => setCaption(caption.replace(/#[\p{L}\p{N}_]*$/u, `#${tag} `));
  const percent = total ? Math.floor((sent / total) * 100) : 0;
  const busy = phase === "uploading" || phase === "paused" || phase === "processing";

  return (
    <main class="page upload" id="main">
      <h1>Upload a video</h1>
      {pending && !file && (
        <div class="notice" role="status">
          An upload of <strong>{pending.name}</strong> was interrupted. Pick the same file to resume.{" "}
          <button
            class="link"
            onClick={() => {
              forgetUpload();
              setPending(null);
            }}
          >
            Discard it
          </button>
        </div>
      )}
      <div class="upload-grid">
        <div class="upload-preview">
          {preview ? (
            <video src={preview} controls muted playsInline aria-label="Preview of the chosen video" />
          ) : (
            <label class="dropzone">
              <span>Choose a video file</span>
              <span class="muted">MP4, MOV, WebM… up to a few minutes</span>
              <input type="file" accept="video/*" onChange={pick} data-testid="file-input" />
            </label>
          )}
        </div>
        <form class="form" onSubmit={submit}>
          <label>
            Caption
            <textarea
              name="caption"
              rows={3}
              maxLength={2200}
              value={caption}
              disabled={busy}
              onInput={(e) => setCaption((e.target as HTMLTextAreaElement).value)}
              aria-describedby="caption-help"
            />
          </label>
          <small id="caption-help" class="muted">
            Type # for hashtag suggestions.
          </small>
          {suggestions.length > 0 && (
            <ul class="chips" aria-label="Hashtag suggestions">
              {suggestions.map((t) => (
                <li key={t}>
                  <button type="button" class="chip" onClick={() => complete(t)}>
                    #{t}
                  </button>
                </li>
              ))}
            </ul>
          )}
          <label>
            Who can watch
            <select name="visibility" value={visibility} disabled={busy} onChange={(e) => setVisibility((e.target as HTMLSelectElement).value as Visibility)}>
              <option value="public">Everyone</option>
              <option value="followers">Followers</option>
              <option value="unlisted">Anyone with the link</option>
              <option value="private">Only me</option>
            </select>
          </label>
          <label class="check">
            <input type="checkbox" checked={allowComments} disabled={busy} onChange={(e) => setAllowComments((e.target as HTMLInputElement).checked)} />
            Allow comments
          </label>
          {soundId && <p class="muted">Using sound {soundId}</p>}
          <ErrorBox error={error} />
          {phase === "pick" && (
            <button class="btn" type="submit" disabled={!file || !!pending}>
              Post
            </button>
          )}
        </form>
      </div>
      {(phase === "uploading" || phase === "paused") && (
        <div class="progress-box">
          <label for="upload-progress">{phase === "paused" ? "Paused" : "Uploading"} — {percent}%</label>
          <progress id="upload-progress" max={100} value={percent} />
          {phase === "uploading" ? (
            <button class="btn secondary" onClick={() => abort.current?.abort()}>
              Pause
            </button>
          ) : (
            <button class="btn" onClick={() => pending && file && run(pending, file)}>
              Resume
            </button>
          )}
        </div>
      )}
      {phase === "processing" && (
        <div class="progress-box" role="status" aria-live="polite">
          <span>Processing… {status?.progress ?? 0}%</span>
          <progress max={100} value={status?.progress ?? 0} />
        </div>
      )}
      {phase === "ready" && status && (
        <div class="notice success" role="status">
          Your video is ready. <a href={`/v/${status.video_id}`}>Watch it</a> or{" "}
          <a href={`/@${me.username}`}>see your profile</a>.{" "}
          <button class="link" onClick={() => (setFile(null), setPreview(null), setCaption(""), setStatus(null), setPhase("pick"))}>
            Upload another
          </button>
        </div>
      )}
    </main>
  );
}
