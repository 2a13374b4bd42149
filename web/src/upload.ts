// Resumable chunked uploads: init, PUT byte ranges, resume from the server's missing ranges.

import { ApiError, api } from "./api";
import type { ByteRange, UploadInit, UploadStateOut, Visibility } from "./types";

const PENDING_KEY = "reelstack.pending-upload";

/** What survives a reload: enough to find the upload again and recognise the same file. */
export interface PendingUpload {
  upload_id: string;
  video_id: string;
  upload_url: string;
  chunk_size: number;
  name: string;
  size: number;
  last_modified: number;
}

export function savedUpload(): PendingUpload | null {
  try {
    return JSON.parse(localStorage.getItem(PENDING_KEY) ?? "null") as PendingUpload | null;
  } catch {
    return null;
  }
}

export function forgetUpload(): void {
  localStorage.removeItem(PENDING_KEY);
}

export function sameFile(p: PendingUpload, file: File): boolean {
  return p.name === file.name && p.size === file.size && p.last_modified === file.lastModified;
}

/** Split the missing byte ranges (inclusive ends) into chunk-sized pieces (exclusive ends). */
export function piecesOf(missing: ByteRange[], chunkSize: number): [number, number][] {
  const pieces: [number, number][] = [];
  for (const { start, end } of missing) {
    for (let s = start; s <= end; s += chunkSize) pieces.push([s, Math.min(s + chunkSize, end + 1)]);
  }
  return pieces;
}

export interface UploadMeta {
  caption: string;
  hashtags: string[];
  visibility: Visibility;
  allow_comments: boolean;
  sound_id?: string | null;
}

export async function startUpload(file: File, meta: UploadMeta): Promise<PendingUpload> {
  const init = await api<UploadInit>("/videos/upload/init", {
    method: "POST",
    body: {
      ...meta,
      file_size: file.size,
      mime_type: file.type || "application/octet-stream",
      filename: file.name,
    },
  });
  const pending: PendingUpload = {
    upload_id: init.upload_id,
    video_id: init.video_id,
    upload_url: init.upload_url,
    chunk_size: init.chunk_size,
    name: file.name,
    size: file.size,
    last_modified: file.lastModified,
  };
  localStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  return pending;
}

export type Progress = (sent: number, total: number) => void;

/**
 * Send what the server is missing, one chunk at a time, until done or `signal` aborts (pause).
 * Returns true when every byte is stored and the upload was completed.
 */
export async function sendMissing(p: PendingUpload, file: File, progress: Progress, signal: AbortSignal): Promise<boolean> {
  const state = await api<UploadStateOut>(`/videos/upload/${p.upload_id}`);
  if (state.status === "complete") return true;
  let sent = state.bytes_uploaded;
  progress(sent, state.total_bytes);
  for (const [start, end] of piecesOf(state.missing, state.chunk_size || p.chunk_size)) {
    if (signal.aborted) return false;
    try {
      await api(p.upload_url, {
        method: "PUT",
        raw: file.slice(start, end),
        headers: { "Content-Type": "application/octet-stream", "Content-Range": `bytes ${start}-${end - 1}/${file.size}` },
        signal,
      });
    } catch (err) {
      if (signal.aborted) return false;
      throw err;
    }
    sent += end - start;
    progress(sent, state.total_bytes);
  }
  await api(`/videos/upload/${p.upload_id}/complete`, { method: "POST" });
  return true;
}

export function isGone(err: unknown): boolean {
  return err instanceof ApiError && (err.status === 404 || err.status === 410);
}
