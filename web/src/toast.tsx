// One polite live region for short confirmations ("Link copied").

import { useEffect, useState } from "preact/hooks";

const listeners = new Set<(text: string) => void>();

export function toast(text: string): void {
  listeners.forEach((fn) => fn(text));
}

export function Toaster() {
  const [text, setText] = useState("");
  useEffect(() => {
    let timer = 0;
    const show = (t: string) => {
      setText(t);
      clearTimeout(timer);
      timer = window.setTimeout(() => setText(""), 2500);
    };
    listeners.add(show);
    return () => listeners.delete(show);
  }, []);
  return (
    <div class={text ? "toast show" : "toast"} role="status" aria-live="polite">
      {text}
    </div>
  );
}
