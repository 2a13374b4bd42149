// People in a list (followers, following, search results) with a follow button each.

import { useState } from "preact/hooks";
import { api, session } from "../api";
import { navigate } from "../router";
import type { FollowState, UserSummary } from "../types";
import { Avatar, Empty } from "../util";

export function UserList({ users, empty }: { users: UserSummary[]; empty: string }) {
  if (!users.length) return <Empty>{empty}</Empty>;
  return (
    <ul class="user-list">
      {users.map((u) => (
        <UserRow key={u.user_id} user={u} />
      ))}
    </ul>
  );
}

export function FollowButton({ userId, username, initial }: { userId: string; username: string; initial: boolean }) {
  const [following, setFollowing] = useState(initial);
  const [busy, setBusy] = useState(false);
  if (session.me?.user_id === userId) return null;
  const toggle = async () => {
    if (!session.signedIn) return navigate("/login");
    setBusy(true);
    try {
      const r = await api<FollowState>(`/users/${userId}/follow`, { method: following ? "DELETE" : "POST" });
      setFollowing(r.is_following || r.follow_requested);
    } finally {
      setBusy(false);
    }
  };
  return (
    <button class={following ? "btn secondary" : "btn"} onClick={toggle} disabled={busy} aria-pressed={following} aria-label={`${following ? "Unfollow" : "Follow"} @${username}`}>
      {following ? "Following" : "Follow"}
    </button>
  );
}

function UserRow({ user }: { user: UserSummary }) {
  return (
    <li class="user-row">
      <a href={`/@${user.username}`} class="user-link">
        <Avatar user={user} size={44} />
        <span>
          <strong>{user.display_name}</strong>
          <span class="muted"> @{user.username}</span>
        </span>
      </a>
      <FollowButton userId={user.user_id} username={user.username} initial={!!user.is_following} />
    </li>
  );
}
