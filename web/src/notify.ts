// The live unread-notifications count over the notifications WebSocket.

import { useEffect, useState } from "preact/hooks";
import { api, session } from "./api";

type Listener = (count: number) => void;
const listeners = new Set<Listener>();
let count = 0;
let socket: WebSocket | null = null;
let retry = 0;
let retryTimer = 0;

function publish(n: number): void {
  count = n;
  listeners.forEach((fn) => fn(n));
}

export function setUnread(n: number): void {
  publish(n);
}

function connect(): void {
  if (socket || !session.signedIn) return;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/ws`;
  const ws = new WebSocket(url);
  socket = ws;
  let refreshTimer = 0;
  ws.onopen = () => {
    // The token goes in the first message, not the URL (URLs end up in logs).
    ws.send(JSON.stringify({ type: "auth", token: session.access }));
  };
  ws.onmessage = (event) => {
    let msg: { type?: string; count?: number; expires_in?: number };
    try {
      msg = JSON.parse(String(event.data));
    } catch {
      return;
    }
    if (msg.type === "authenticated") {
      retry = 0;
      // Re-authenticate with a fresh token shortly before this one runs out.
      const ms = Math.max(5, (msg.expires_in ?? 600) - 30) * 1000;
      refreshTimer = window.setTimeout(async () => {
        if (await session.refresh()) ws.send(JSON.stringify({ type: "auth", token: session.access }));
      }, ms);
    } else if (msg.type === "unread_count" && typeof msg.count === "number") {
      publish(msg.count);
    }
    // A `notification` message is always followed by the exact `unread_count`.
  };
  ws.onclose = async (event) => {
    clearTimeout(refreshTimer);
    socket = null;
    if (!session.signedIn) return;
    if (event.code === 4401 && !(await session.refresh())) return;
    retry = Math.min(retry + 1, 6);
    retryTimer = window.setTimeout(connect, 500 * 2 ** retry);
  };
}

function disconnect(): void {
  clearTimeout(retryTimer);
  const ws = socket;
  socket = null;
  ws?.close();
  publish(0);
}

session.subscribe(() => {
  if (session.signedIn && session.me) connect();
  else if (!session.signedIn) disconnect();
});

/** The unread count, live. Falls back to one fetch if the socket is not up yet. */
export function useUnread(): number {
  const [n, setN] = useState(count);
  useEffect(() => {
    listeners.add(setN);
    if (session.signedIn && !socket) {
      api<{ unread_count: number }>("/notifications/unread_count").then((r) => publish(r.unread_count), () => undefined);
      connect();
    }
    return () => listeners.delete(setN);
  }, []);
  return n;
}
