// A profile: avatar, counts, bio, follow or edit, the video grid, followers and following.

import { useState } from "preact/hooks";
import { api, qs, session } from "../api";
import { Paged } from "../components/Paged";
import { FollowButton, UserList } from "../components/UserList";
import { VideoGrid } from "../components/VideoGrid";
import type { Me, Profile as ProfileT, UserPage, VideoPage } from "../types";
import { Avatar, ErrorBox, Spinner, errorText, formatCount, useLoad, useSession } from "../util";

type Tab = "videos" | "followers" | "following";

export function Profile({ username }: { username: string }) {
  const me = useSession();
  const profile = useLoad(() => api<ProfileT>(`/users/@${encodeURIComponent(username)}`), [username, me?.user_id]);
  const [tab, setTab] = useState<Tab>("videos");
  const [editing, setEditing] = useState(false);
  const p = profile.data;
  if (profile.loading && !p) return <Spinner />;
  if (!p) {
    return (
      <main class="page" id="main">
        <ErrorBox error={profile.error ?? "This account does not exist."} />
      </main>
    );
  }
  const own = me?.user_id === p.user_id;
  const stat = (n: number, label: string, to?: Tab) =>
    to ? (
      <button class="stat" onClick={() => setTab(to)} aria-pressed={tab === to}>
        <strong>{formatCount(n)}</strong> {label}
      </button>
    ) : (
      <span class="stat">
        <strong>{formatCount(n)}</strong> {label}
      </span>
    );
  return (
    <main class="page profile" id="main">
      <header class="profile-head">
        <Avatar user={p} size={96} />
        <div>
          <h1>{p.display_name}</h1>
          <p class="muted">@{p.username}{p.is_private && " · private account"}</p>
          <p class="stats">
            {stat(p.stats.following, "following", "following")}
            {stat(p.stats.followers, "followers", "followers")}
            {stat(p.stats.total_likes, "likes")}
          </p>
          {p.bio && <p class="bio">{p.bio}</p>}
          <div class="profile-actions">
            {own ? (
              <button class="btn secondary" onClick={() => setEditing(!editing)} aria-expanded={editing}>
                Edit profile
              </button>
            ) : (
              <FollowButton key={p.user_id} userId={p.user_id} username={p.username} initial={!!(p.is_following || p.follow_requested)} />
            )}
          </div>
        </div>
      </header>
      {editing && own && <EditProfile me={p as Me} onSaved={() => (setEditing(false), profile.reload())} />}
      <nav class="tabs" aria-label="Profile sections">
        {(["videos", "followers", "following"] as Tab[]).map((t) => (
          <button key={t} class="tab" aria-pressed={tab === t} onClick={() => setTab(t)}>
            {t === "videos" ? `Videos (${p.stats.videos})` : t[0].toUpperCase() + t.slice(1)}
          </button>
        ))}
      </nav>
      {tab === "videos" ? (
        <Paged<VideoPage, VideoPage["videos"][number]>
          key="videos"
          deps={[p.user_id, tab]}
          load={(cursor) => api<VideoPage>(`/users/${p.user_id}/videos${qs({ cursor, page_size: 24 })}`)}
          items={(page) => page.videos}
          render={(videos) => <VideoGrid videos={videos} empty={own ? "You haven't posted yet. Upload your first video!" : "No videos yet."} />}
        />
      ) : (
        <Paged<UserPage, UserPage["users"][number]>
          key={tab}
          deps={[p.user_id, tab]}
          load={(cursor) => api<UserPage>(`/users/${p.user_id}/${tab}${qs({ cursor, page_size: 30 })}`)}
          items={(page) => page.users}
          render={(users) => <UserList users={users} empty={tab === "followers" ? "No followers yet." : "Not following anyone yet."} />}
        />
      )}
    </main>
  );
}

function EditProfile({ me, onSaved }: { me: Me; onSaved: () => void }) {
  const [displayName, setDisplayName] = useState(me.display_name);
  const [bio, setBio] = useState(me.bio);
  const [avatar, setAvatar] = useState<File | null>(null);
  const [error, setError] = useState<string | null>(null);
  const save = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      let updated = await api<Me>("/users/me", { method: "PATCH", body: { display_name: displayName, bio } });
      if (avatar) {
        const form = new FormData();
        form.append("file", avatar);
        updated = await api<Me>("/users/me/avatar", { method: "PUT", raw: form });
      }
      session.me = updated;
      session.emit();
      onSaved();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <form class="form edit-profile" onSubmit={save}>
      <label>
        Name
        <input value={displayName} maxLength={60} onInput={(e) => setDisplayName((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        Bio
        <textarea value={bio} maxLength={300} rows={3} onInput={(e) => setBio((e.target as HTMLTextAreaElement).value)} />
      </label>
      <label>
        Avatar
        <input type="file" accept="image/*" onChange={(e) => setAvatar((e.target as HTMLInputElement).files?.[0] ?? null)} />
      </label>
      <ErrorBox error={error} />
      <button class="btn" type="submit">
        Save
      </button>
    </form>
  );
}
