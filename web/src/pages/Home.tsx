// For You / Following tabs over the full-screen feed.

import { useCallback } from "preact/hooks";
import { api, optional, qs } from "../api";
import { Feed } from "../components/Feed";
import type { VideoPage } from "../types";
import { useSession } from "../util";

const EMPTY: VideoPage = { videos: [], next_cursor: null, has_more: false };

export function Home({ tab }: { tab: "foryou" | "following" }) {
  const me = useSession();
  const loadForYou = useCallback(
    (cursor: string | null) => optional(api<VideoPage>(`/feed/for-you${qs({ cursor, page_size: 10 })}`), EMPTY),
    [me?.user_id],
  );
  const loadFollowing = useCallback(
    (cursor: string | null) => optional(api<VideoPage>(`/feed/following${qs({ cursor, page_size: 10 })}`), EMPTY),
    [me?.user_id],
  );
  return (
    <div class="home">
      <nav class="feed-tabs" aria-label="Feeds">
        <a href="/following" aria-current={tab === "following" ? "page" : undefined}>
          Following
        </a>
        <a href="/" aria-current={tab === "foryou" ? "page" : undefined}>
          For You
        </a>
      </nav>
      {tab === "foryou" ? (
        <Feed key="foryou" load={loadForYou} source="for_you" label="For You" empty="Nothing to watch yet. Upload the first video!" />
      ) : me ? (
        <Feed
          key="following"
          load={loadFollowing}
          source="following"
          label="Following"
          hideFollow
          empty={
            <>
              No videos from people you follow yet. Find creators in <a href="/discover">Discover</a>.
            </>
          }
        />
      ) : (
        <section class="feed-empty">
          <p class="empty">
            <a href="/login?next=/following">Sign in</a> to see videos from people you follow.
          </p>
        </section>
      )}
    </div>
  );
}
