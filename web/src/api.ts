// A thin typed wrapper over the reelstack REST API: tokens, refresh, problem details.

import type { Me, RegisterResponse, TokenPair } from "./types";

export const API = "/api/v1";
const TOKENS_KEY = "reelstack.tokens";

/** An API failure, its message taken from the RFC 9457 problem details. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: string[] = [],
  ) {
    super(message);
  }
}

interface Problem {
  title?: string;
  detail?: string;
  code?: string;
  errors?: { loc?: (string | number)[]; msg?: string; message?: string }[] | null;
}

/** A readable sentence from a problem document (field errors spelled out). */
export function problemMessage(status: number, problem: Problem | null): string {
  if (!problem) return status >= 500 ? "The server had a problem. Try again." : `Request failed (${status}).`;
  const errors = (problem.errors ?? [])
    .map((e) => {
      const field = (e.loc ?? []).filter((p) => p !== "body").join(".");
      const msg = e.msg ?? e.message ?? "";
      return field ? `${field}: ${msg}` : msg;
    })
    .filter(Boolean);
  if (errors.length) return errors.join("; ");
  return problem.detail || problem.title || `Request failed (${status}).`;
}

type Listener = () => void;

/** The signed-in session: tokens in localStorage, the current user in memory. */
class Session {
  access: string | null = null;
  refreshToken: string | null = null;
  me: Me | null = null;
  private listeners = new Set<Listener>();
  private refreshing: Promise<boolean> | null = null;

  constructor() {
    try {
      const saved = JSON.parse(localStorage.getItem(TOKENS_KEY) ?? "null") as TokenPair | null;
      if (saved) {
        this.access = saved.access_token;
        this.refreshToken = saved.refresh_token;
      }
    } catch {
      localStorage.removeItem(TOKENS_KEY);
    }
  }

  get signedIn(): boolean {
    return this.refreshToken !== null;
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(): void {
    this.listeners.forEach((fn) => fn());
  }

  store(tokens: TokenPair): void {
    this.access = tokens.access_token;
    this.refreshToken = tokens.refresh_token;
    localStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
  }

  clear(): void {
    this.access = this.refreshToken = null;
    this.me = null;
    localStorage.removeItem(TOKENS_KEY);
    this.emit();
  }

  /** Trade the refresh token for a new pair; concurrent callers share one attempt. */
  refresh(): Promise<boolean> {
    if (!this.refreshToken) return Promise.resolve(false);
    this.refreshing ??= (async () => {
      try {
        const r = await fetch(`${API}/auth/refresh`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ refresh_token: this.refreshToken }),
        });
        if (!r.ok) {
          // Refresh tokens rotate: another tab may have used ours; re-read before giving up.
          const saved = JSON.parse(localStorage.getItem(TOKENS_KEY) ?? "null") as TokenPair | null;
          if (saved && saved.refresh_token !== this.refreshToken) {
            this.store(saved);
            return true;
          }
          this.clear();
          return false;
        }
        this.store((await r.json()) as TokenPair);
        return true;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }
}

export const session = new Session();

export interface RequestOptions {
  method?: string;
  body?: unknown;
  raw?: BodyInit;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** Call the API; JSON in and out, problem details thrown as ApiError, one retry after refresh. */
export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const send = async (): Promise<Response> => {
    const headers: Record<string, string> = { Accept: "application/json", ...opts.headers };
    if (session.access) headers.Authorization = `Bearer ${session.access}`;
    let body: BodyInit | undefined = opts.raw;
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.body);
    }
    return fetch(path.startsWith("/") && !path.startsWith(API) ? API + path : path, {
      method: opts.method ?? "GET",
      headers,
      body,
      signal: opts.signal,
    });
  };
  let response = await send();
  if (response.status === 401 && session.refreshToken && (await session.refresh())) {
    response = await send();
  }
  if (!response.ok) {
    let problem: Problem | null = null;
    try {
      problem = (await response.json()) as Problem;
    } catch {
      problem = null;
    }
    const fields = (problem?.errors ?? []).map((e) => String((e.loc ?? []).slice(-1)[0] ?? ""));
    throw new ApiError(
      response.status,
      problem?.code ?? "http_error",
      problemMessage(response.status, problem),
      fields,
    );
  }
  if (response.status === 204 || response.status === 202 && response.headers.get("content-length") === "0") {
    return undefined as T;
  }
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** A list endpoint that may not exist yet on this server: a 404 reads as empty. */
export async function optional<T>(promise: Promise<T>, empty: T): Promise<T> {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) return empty;
    throw err;
  }
}

export function qs(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

export async function loadMe(): Promise<Me | null> {
  if (!session.signedIn) return null;
  try {
    session.me = await api<Me>("/users/me");
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) session.clear();
    else throw err;
  } finally {
    session.emit();
  }
  return session.me;
}

export async function login(loginName: string, password: string): Promise<void> {
  session.store(await api<TokenPair>("/auth/login", { method: "POST", body: { login: loginName, password } }));
  await loadMe();
}

export async function register(username: string, email: string, password: string): Promise<void> {
  const r = await api<RegisterResponse>("/auth/register", {
    method: "POST",
    body: { username, email, password },
  });
  session.store(r);
  session.me = r.user;
  session.emit();
}

export async function logout(): Promise<void> {
  const refresh_token = session.refreshToken;
  session.clear();
  try {
    await api<void>("/auth/logout", { method: "POST", body: { refresh_token } });
  } catch {
    // Signed out locally either way.
  }
}
