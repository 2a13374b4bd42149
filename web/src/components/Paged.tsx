// A cursor-paginated list with a "Load more" button, for grids and user lists.

import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { Page } from "../types";
import { ErrorBox, Spinner, errorText } from "../util";

interface Props<P extends Page, T> {
  load: (cursor: string | null) => Promise<P>;
  items: (page: P) => T[];
  render: (items: T[]) => ComponentChildren;
  deps: unknown[];
}

export function Paged<P extends Page, T>({ load, items, render, deps }: Props<P, T>) {
  const [list, setList] = useState<T[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  // Only the latest request may update the list: a slow answer for old deps is dropped.
  const generation = useRef(0);
  const fetchPage = async (from: string | null) => {
    const mine = ++generation.current;
    setLoading(true);
    setError(null);
    try {
      const page = await load(from);
      if (mine !== generation.current) return;
      setList((old) => (from ? [...old, ...items(page)] : items(page)));
      setCursor(page.has_more ? page.next_cursor : null);
    } catch (err) {
      if (mine === generation.current) setError(errorText(err));
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  };
  useEffect(() => {
    setList([]);
    void fetchPage(null);
  }, deps);
  return (
    <>
      <ErrorBox error={error} />
      {!(loading && !list.length) && !error && render(list)}
      {loading && <Spinner />}
      {cursor && !loading && (
        <button class="more" onClick={() => fetchPage(cursor)}>
          Load more
        </button>
      )}
    </>
  );
}
