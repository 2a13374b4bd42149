// Discover: search with suggestions; results by kind; trending hashtags and videos.

import { useEffect, useState } from "preact/hooks";
import { api, optional, qs } from "../api";
import { Paged } from "../components/Paged";
import { UserList } from "../components/UserList";
import { VideoGrid } from "../components/VideoGrid";
import { navigate } from "../router";
import type { Hashtag, Page, Sound, Suggestion, UserSummary, Video, VideoPage } from "../types";
import { Empty, formatCount, useLoad } from "../util";

type Kind = "videos" | "users" | "hashtags" | "sounds";
const KINDS: Kind[] = ["videos", "users", "hashtags", "sounds"];

function emptyPage<K extends string>(key: K): Page & Record<K, never[]> {
  return { [key]: [], next_cursor: null, has_more: false } as Page & Record<K, never[]>;
}

export function Discover({ q }: { q: string }) {
  const [text, setText] = useState(q);
  const [kind, setKind] = useState<Kind>("videos");
  const [suggestions, setSuggestions] = useState<Suggestion[]>([]);
  const [open, setOpen] = useState(false);
  const [highlight, setHighlight] = useState(-1);
  useEffect(() => setText(q), [q]);

  useEffect(() => {
    const query = text.trim();
    if (!query || query === q) return setSuggestions([]);
    let live = true;
    const timer = setTimeout(async () => {
      const r = await optional(api<{ suggestions: Suggestion[] }>(`/search/suggest${qs({ q: query })}`), { suggestions: [] }).catch(() => ({ suggestions: [] }));
      if (live) setSuggestions(r.suggestions.slice(0, 8));
    }, 150);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [text]);

  const search = (query: string) => {
    setOpen(false);
    navigate(`/discover${qs({ q: query.trim() })}`);
  };
  const choose = (s: Suggestion) => {
    setOpen(false);
    if (s.type === "hashtag") navigate(`/tag/${encodeURIComponent(s.text.replace(/^#/, ""))}`);
    else if (s.type === "user") navigate(`/@${s.text.replace(/^@/, "")}`);
    else search(s.text);
  };
  const onKey = (e: KeyboardEvent) => {
    if (e.key === "ArrowDown") {
      e.preventDefault();
      setOpen(true);
      setHighlight((h) => Math.min(h + 1, suggestions.length - 1));
    } else if (e.key === "ArrowUp") {
      e.preventDefault();
      setHighlight((h) => Math.max(h - 1, -1));
    } else if (e.key === "Escape") setOpen(false);
    else if (e.key === "Enter" && open && highlight >= 0 && suggestions[highlight]) {
      e.preventDefault();
      choose(suggestions[highlight]);
    }
  };

  return (
    <main class="page" id="main">
      <h1 class="sr-only">Discover</h1>
      <form class="search" role="search" onSubmit={(e) => (e.preventDefault(), search(text))}>
        <label class="sr-only" for="search-box">
          Search videos, people, hashtags and sounds
        </label>
        <input
          id="search-box"
          type="search"
          placeholder="Search"
          autoComplete="off"
          value={text}
          role="combobox"
          aria-expanded={open && suggestions.length > 0}
          aria-controls="suggestions"
          aria-activedescendant={highlight >= 0 ? `suggestion-${highlight}` : undefined}
          onInput={(e) => (setText((e.target as HTMLInputElement).value), setOpen(true), setHighlight(-1))}
          onKeyDown={onKey}
          onBlur={() => setTimeout(() => setOpen(false), 150)}
        />
        <button class="btn" type="submit">
          Search
        </button>
        {open && suggestions.length > 0 && (
          <ul id="suggestions" class="suggestions" role="listbox">
            {suggestions.map((s, i) => (
              <li key={`${s.type}:${s.text}`} id={`suggestion-${i}`} role="option" aria-selected={i === highlight} onMouseDown={() => choose(s)}>
                <span class="muted">{s.type === "hashtag" ? "#" : s.type === "user" ? "@" : "⌕"}</span> {s.text.replace(/^[#@]/, "")}
              </li>
            ))}
          </ul>
        )}
      </form>
      {q ? (
        <>
          <nav class="tabs" aria-label="Result types">
            {KINDS.map((k) => (
              <button key={k} class="tab" aria-pressed={kind === k} onClick={() => setKind(k)}>
                {k[0].toUpperCase() + k.slice(1)}
              </button>
            ))}
          </nav>
          <Results key={kind} q={q} kind={kind} />
        </>
      ) : (
        <Trending />
      )}
    </main>
  );
}

function Results({ q, kind }: { q: string; kind: Kind }) {
  const url = (cursor: string | null) => `/search/${kind}${qs({ q, cursor, page_size: 24 })}`;
  if (kind === "videos")
    return (
      <Paged<VideoPage, Video> deps={[q, kind]} load={(c) => optional(api<VideoPage>(url(c)), emptyPage("videos"))} items={(p) => p.videos} render={(v) => <VideoGrid videos={v} empty={`No videos match "${q}".`} />} />
    );
  if (kind === "users")
    return (
      <Paged<Page & { users: UserSummary[] }, UserSummary>
        deps={[q, kind]}
        load={(c) => optional(api<Page & { users: UserSummary[] }>(url(c)), emptyPage("users"))}
        items={(p) => p.users}
        render={(u) => <UserList users={u} empty={`No people match "${q}".`} />}
      />
    );
  if (kind === "hashtags")
    return (
      <Paged<Page & { hashtags: Hashtag[] }, Hashtag>
        deps={[q, kind]}
        load={(c) => optional(api<Page & { hashtags: Hashtag[] }>(url(c)), emptyPage("hashtags"))}
        items={(p) => p.hashtags}
        render={(h) => <HashtagList tags={h} empty={`No hashtags match "${q}".`} />}
      />
    );
  return (
    <Paged<Page & { sounds: Sound[] }, Sound>
      deps={[q, kind]}
      load={(c) => optional(api<Page & { sounds: Sound[] }>(url(c)), emptyPage("sounds"))}
      items={(p) => p.sounds}
      render={(sounds) =>
        sounds.length ? (
          <ul class="plain-list">
            {sounds.map((s) => (
              <li key={s.sound_id}>
                <a href={`/sound/${s.sound_id}`}>♫ {s.title}</a> <span class="muted">@{s.creator.username} · {formatCount(s.usage_count)} videos</span>
              </li>
            ))}
          </ul>
        ) : (
          <Empty>No sounds match "{q}".</Empty>
        )
      }
    />
  );
}

function HashtagList({ tags, empty }: { tags: Hashtag[]; empty: string }) {
  if (!tags.length) return <Empty>{empty}</Empty>;
  return (
    <ul class="chips">
      {tags.map((t) => (
        <li key={t.tag}>
          <a class="chip" href={`/tag/${encodeURIComponent(t.tag)}`}>
            #{t.tag} <span class="muted">{formatCount(t.view_count)} views</span>
          </a>
        </li>
      ))}
    </ul>
  );
}

function Trending() {
  const tags = useLoad(() => optional(api<{ hashtags: Hashtag[] }>(`/trending/hashtags${qs({ limit: 12 })}`), { hashtags: [] }), []);
  return (
    <>
      <h2>Trending hashtags</h2>
      {tags.data && <HashtagList tags={tags.data.hashtags} empty="No trending hashtags yet." />}
      <h2>Trending videos</h2>
      <Paged<VideoPage, Video>
        deps={[]}
        load={(c) => optional(api<VideoPage>(`/feed/trending${qs({ cursor: c, time_range: "7d" })}`), emptyPage("videos"))}
        items={(p) => p.videos}
        render={(v) => <VideoGrid videos={v} empty="No trending videos yet." />}
      />
    </>
  );
}
