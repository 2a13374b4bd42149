// The signed-in user's own pages: notifications, watch history, settings.

import { useEffect, useState } from "preact/hooks";
import { api, logout, qs, session } from "../api";
import { Paged } from "../components/Paged";
import { VideoGrid } from "../components/VideoGrid";
import { setUnread } from "../notify";
import { navigate } from "../router";
import type { NotificationOut, NotificationPage, Video, VideoPage } from "../types";
import { Avatar, Empty, ErrorBox, errorText, timeAgo, useLoad, useSession } from "../util";

function SignInFirst({ what }: { what: string }) {
  return (
    <main class="page narrow" id="main">
      <p class="empty">
        <a href={`/login?next=${encodeURIComponent(location.pathname)}`}>Sign in</a> to see {what}.
      </p>
    </main>
  );
}

export function Notifications() {
  const me = useSession();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!me) return;
    // Opening the page reads them all; the badge clears everywhere.
    api<{ unread_count: number }>("/notifications/read", { method: "POST", body: { all: true } }).then(
      (r) => setUnread(r.unread_count),
      () => undefined,
    );
  }, [me?.user_id, tick]);
  if (!me) return <SignInFirst what="your notifications" />;
  return (
    <main class="page narrow" id="main">
      <h1>
        Notifications{" "}
        <button class="link" onClick={() => setTick(tick + 1)}>
          Refresh
        </button>
      </h1>
      <Paged<NotificationPage, NotificationOut>
        deps={[me.user_id, tick]}
        load={(cursor) => api<NotificationPage>(`/notifications${qs({ cursor, page_size: 30 })}`)}
        items={(p) => p.notifications}
        render={(list) =>
          list.length ? (
            <ul class="notifications">
              {list.map((n) => (
                <li key={n.notification_id} class={n.is_read ? "" : "unread"}>
                  {n.actors[0] && <Avatar user={n.actors[0]} size={40} />}
                  <div>
                    <p>
                      <a href={n.video ? `/v/${n.video.video_id}` : n.actors[0] ? `/@${n.actors[0].username}` : "/"}>{n.text}</a>
                    </p>
                    {n.comment && <p class="muted">“{n.comment.text}”</p>}
                    <p class="muted">{timeAgo(n.created_at)}</p>
                  </div>
                  {n.video?.thumbnail_url && <img class="notif-thumb" src={n.video.thumbnail_url} alt="" />}
                </li>
              ))}
            </ul>
          ) : (
            <Empty>No notifications yet.</Empty>
          )
        }
      />
    </main>
  );
}

export function History() {
  const me = useSession();
  const [tick, setTick] = useState(0);
  if (!me) return <SignInFirst what="your watch history" />;
  const clear = async () => {
    if (!confirm("Clear your whole watch history?")) return;
    await api<void>("/users/me/history", { method: "DELETE" });
    setTick(tick + 1);
  };
  return (
    <main class="page" id="main">
      <h1>
        Watch history{" "}
        <button class="link" onClick={clear}>
          Clear
        </button>
      </h1>
      <Paged<VideoPage, Video>
        deps={[me.user_id, tick]}
        load={(cursor) => api<VideoPage>(`/users/me/history${qs({ cursor, page_size: 24 })}`)}
        items={(p) => p.videos}
        render={(v) => <VideoGrid videos={v} empty="Videos you watch show up here." />}
      />
    </main>
  );
}

const LABELS: Record<string, string> = {
  new_follower: "New followers",
  follow_request: "Follow requests",
  like: "Likes on my videos",
  comment: "Comments on my videos",
  reply: "Replies to my comments",
  mention: "Mentions",
  video_ready: "My upload is ready",
  video_failed: "My upload failed",
  new_post: "New videos from people I follow",
};

export function Settings() {
  const me = useSession();
  const prefs = useLoad<Record<string, boolean>>(() => (me ? api<Record<string, boolean>>("/notifications/preferences") : Promise.resolve({})), [me?.user_id]);
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  if (!me) return <SignInFirst what="your settings" />;

  const toggle = async (type: string, on: boolean) => {
    try {
      prefs.set(await api<Record<string, boolean>>("/notifications/preferences", { method: "PUT", body: { [type]: on } }));
    } catch (err) {
      setError(errorText(err));
    }
  };
  const changePassword = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setMessage(null);
    try {
      await api<void>("/users/me/password", { method: "POST", body: { current_password: current, new_password: next } });
      setCurrent("");
      setNext("");
      setMessage("Password changed. Other devices were signed out.");
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <main class="page narrow" id="main">
      <h1>Settings</h1>
      <ErrorBox error={error ?? prefs.error} />
      {message && (
        <p class="notice success" role="status">
          {message}
        </p>
      )}
      <section>
        <h2>Notifications</h2>
        <ul class="plain-list">
          {Object.entries(prefs.data ?? ({} as Record<string, boolean>)).map(([type, on]) => (
            <li key={type}>
              <label class="check">
                <input type="checkbox" checked={on} onChange={(e) => toggle(type, (e.target as HTMLInputElement).checked)} />
                {LABELS[type] ?? type}
              </label>
            </li>
          ))}
        </ul>
      </section>
      <section>
        <h2>Password</h2>
        <form class="form" onSubmit={changePassword}>
          <label>
            Current password
            <input type="password" autoComplete="current-password" required value={current} onInput={(e) => setCurrent((e.target as HTMLInputElement).value)} />
          </label>
          <label>
            New password
            <input type="password" autoComplete="new-password" minLength={8} required value={next} onInput={(e) => setNext((e.target as HTMLInputElement).value)} />
          </label>
          <button class="btn" type="submit">
            Change password
          </button>
        </form>
      </section>
      <section>
        <h2>Account</h2>
        <p>
          Signed in as @{me.username} ({session.me?.email}).{" "}
          <button class="link" onClick={async () => (await logout(), navigate("/"))}>
            Sign out
          </button>
        </p>
      </section>
    </main>
  );
}
