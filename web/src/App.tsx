// The app shell: navigation (sidebar on wide screens, tab bar on phones) and the current page.

import { useEffect } from "preact/hooks";
import { useUnread } from "./notify";
import { Account } from "./pages/AccountMenu";
import { Discover } from "./pages/Discover";
import { History, Notifications, Settings } from "./pages/Account";
import { Home } from "./pages/Home";
import { SoundPage, TagPage } from "./pages/Listing";
import { Login } from "./pages/Login";
import { Profile } from "./pages/Profile";
import { Upload } from "./pages/Upload";
import { VideoPage } from "./pages/VideoPage";
import { onLinkClick, useRoute, type Route } from "./router";
import { Toaster } from "./toast";
import { useSession } from "./util";

function Page({ route }: { route: Route }) {
  switch (route.name) {
    case "feed":
      return <Home tab={route.tab} />;
    case "discover":
      return <Discover q={route.q} />;
    case "upload":
      return <Upload />;
    case "profile":
      return <Profile username={route.username} />;
    case "video":
      return <VideoPage id={route.id} />;
    case "tag":
      return <TagPage tag={route.tag} />;
    case "sound":
      return <SoundPage id={route.id} />;
    case "notifications":
      return <Notifications />;
    case "history":
      return <History />;
    case "settings":
      return <Settings />;
    case "login":
      return <Login mode={route.mode} />;
    default:
      return (
        <main class="page" id="main">
          <h1>Page not found</h1>
          <p>
            <a href="/">Back to the feed</a>
          </p>
        </main>
      );
  }
}

const TITLES: Partial<Record<Route["name"], string>> = {
  discover: "Discover",
  upload: "Upload",
  notifications: "Notifications",
  history: "Watch history",
  settings: "Settings",
  login: "Sign in",
};

export function App() {
  const route = useRoute();
  const me = useSession();
  const unread = useUnread();
  useEffect(() => {
    const name =
      route.name === "profile" ? `@${route.username}` : route.name === "tag" ? `#${route.tag}` : TITLES[route.name];
    document.title = name ? `${name} · reelstack` : "reelstack";
  }, [route]);
  const current = (name: Route["name"], extra = true) => (route.name === name && extra ? "page" : undefined);
  return (
    <div class={`shell route-${route.name}`} onClick={onLinkClick}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <nav class="nav" aria-label="Main">
        <a class="logo" href="/" aria-label="reelstack home">
          reelstack
        </a>
        <a href="/" aria-current={current("feed")}>
          <span aria-hidden="true">⌂</span>
          <span class="label">Home</span>
        </a>
        <a href="/discover" aria-current={current("discover")}>
          <span aria-hidden="true">⌕</span>
          <span class="label">Discover</span>
        </a>
        <a href="/upload" class="nav-upload" aria-current={current("upload")} aria-label="Upload">
          <span aria-hidden="true">+</span>
          <span class="label">Upload</span>
        </a>
        <a href="/notifications" aria-current={current("notifications")} aria-label={unread ? `Notifications, ${unread} unread` : "Notifications"}>
          <span aria-hidden="true">✉</span>
          <span class="label">Inbox</span>
          {unread > 0 && (
            <span class="badge" data-testid="unread-badge" aria-hidden="true">
              {unread > 99 ? "99+" : unread}
            </span>
          )}
        </a>
        <Account me={me} current={current("profile", route.name === "profile" && route.username === me?.username)} />
      </nav>
      <div class="content">
        <Page route={route} />
      </div>
      <Toaster />
    </div>
  );
}
