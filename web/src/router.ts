// A tiny history-API router: paths in, a route object out, links that don't reload.

import { useEffect, useState } from "preact/hooks";

export type Route =
  | { name: "feed"; tab: "foryou" | "following" }
  | { name: "discover"; q: string }
  | { name: "upload" }
  | { name: "profile"; username: string }
  | { name: "video"; id: string }
  | { name: "tag"; tag: string }
  | { name: "sound"; id: string }
  | { name: "notifications" }
  | { name: "history" }
  | { name: "settings" }
  | { name: "login"; mode: "login" | "register" }
  | { name: "notfound" };

/** The route for a location (pure, unit-testable). */
export function parseRoute(pathname: string, search: string): Route {
  const params = new URLSearchParams(search);
  const v = params.get("v");
  if (pathname === "/" && v) return { name: "video", id: v };
  const parts = pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const [head, arg] = parts;
  if (!head) return { name: "feed", tab: "foryou" };
  if (head === "following") return { name: "feed", tab: "following" };
  if (head.startsWith("@")) return { name: "profile", username: head.slice(1) };
  switch (head) {
    case "discover":
      return { name: "discover", q: params.get("q") ?? "" };
    case "upload":
      return { name: "upload" };
    case "v":
      return arg ? { name: "video", id: arg } : { name: "notfound" };
    case "tag":
      return arg ? { name: "tag", tag: arg } : { name: "notfound" };
    case "sound":
      return arg ? { name: "sound", id: arg } : { name: "notfound" };
    case "notifications":
      return { name: "notifications" };
    case "history":
      return { name: "history" };
    case "settings":
      return { name: "settings" };
    case "login":
      return { name: "login", mode: "login" };
    case "register":
      return { name: "login", mode: "register" };
  }
  return { name: "notfound" };
}

const listeners = new Set<() => void>();

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  listeners.forEach((fn) => fn());
}

window.addEventListener("popstate", () => listeners.forEach((fn) => fn()));

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname, location.search));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.pathname, location.search));
    listeners.add(update);
    return () => listeners.delete(update);
  }, []);
  return route;
}

/** A click handler for in-app links: plain left clicks route, others act as normal links. */
export function onLinkClick(e: MouseEvent): void {
  const a = (e.target as HTMLElement).closest("a");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const href = a.getAttribute("href");
  if (!href || !href.startsWith("/") || href.startsWith("//") || a.target || a.hasAttribute("download")) return;
  if (href.startsWith("/api/") || href.startsWith("/media/")) return;
  e.preventDefault();
  navigate(href);
}
