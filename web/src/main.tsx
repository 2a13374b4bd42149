// Boot: restore the session, mount the app (replacing a server-rendered fallback, e.g. /v/{id}).

import { render } from "preact";
import { loadMe } from "./api";
import { App } from "./App";
import { loadHls, nativeHls } from "./player";
import "./styles.css";

const root = document.getElementById("app")!;
// The share page's no-JS body: the app shows the same video, so the fallback goes.
document.querySelectorAll("body > main, head > style").forEach((el) => el.remove());
// Fetch the player library alongside the first feed page, not after it.
if (!nativeHls(document.createElement("video"))) void loadHls();
render(<App />, root);
loadMe().catch(() => undefined);
