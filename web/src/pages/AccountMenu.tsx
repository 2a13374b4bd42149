// The profile entry of the navigation, with the account's own pages on wide screens.

import type { Me } from "../types";
import { Avatar } from "../util";

export function Account({ me, current }: { me: Me | null; current: "page" | undefined }) {
  if (!me) {
    return (
      <a href="/login" class="nav-login">
        <span aria-hidden="true">☺</span>
        <span class="label">Sign in</span>
      </a>
    );
  }
  return (
    <>
      <a href={`/@${me.username}`} aria-current={current} aria-label="My profile">
        <Avatar user={me} size={28} />
        <span class="label">Profile</span>
      </a>
      <a href="/history" class="wide-only">
        <span aria-hidden="true">⟲</span>
        <span class="label">History</span>
      </a>
      <a href="/settings" class="wide-only">
        <span aria-hidden="true">⚙</span>
        <span class="label">Settings</span>
      </a>
    </>
  );
}
