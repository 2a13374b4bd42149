// Sign in and sign up.

import { useState } from "preact/hooks";
import { ApiError, login, register } from "../api";
import { navigate } from "../router";
import { ErrorBox, errorText } from "../util";

function nextPath(): string {
  const next = new URLSearchParams(location.search).get("next");
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

export function Login({ mode }: { mode: "login" | "register" }) {
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const registering = mode === "register";

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (registering) await register(name, email, password);
      else await login(name, password);
      navigate(nextPath(), true);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 && !registering ? "Wrong username or password." : errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="page narrow" id="main">
      <h1>{registering ? "Create your account" : "Sign in"}</h1>
      <form class="form" onSubmit={submit}>
        <label>
          {registering ? "Username" : "Username or email"}
          <input name="username" autoComplete="username" required value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
        {registering && (
          <label>
            Email
            <input name="email" type="email" autoComplete="email" required value={email} onInput={(e) => setEmail((e.target as HTMLInputElement).value)} />
          </label>
        )}
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete={registering ? "new-password" : "current-password"}
            minLength={registering ? 8 : undefined}
            required
            value={password}
            onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
          />
        </label>
        <ErrorBox error={error} />
        <button class="btn" type="submit" disabled={busy}>
          {registering ? "Sign up" : "Sign in"}
        </button>
      </form>
      <p>
        {registering ? (
          <>
            Have an account? <a href={`/login${location.search}`}>Sign in</a>
          </>
        ) : (
          <>
            New here? <a href={`/register${location.search}`}>Create an account</a>
          </>
        )}
      </p>
    </main>
  );
}
