// Shared by the interop tests (better-auth/, oauth-provider/): the tally of
// checks, the todo-api binary on a random port, and Better Auth users.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";

export const tally = { passes: 0, failures: 0 };

export function expect(label, actual, expected) {
  const ok = JSON.stringify(actual) === JSON.stringify(expected);
  if (ok) tally.passes++;
  else tally.failures++;
  console.log(`${ok ? "ok  " : "FAIL"} ${label}${ok ? "" : `: got ${JSON.stringify(actual)}, want ${JSON.stringify(expected)}`}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const header = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[0], "base64url").toString());
export const payload = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());

/** `base` (a PostgreSQL URL) with another database name. */
export function dbUrl(base, name) {
  const u = new URL(base);
  u.pathname = `/${name}`;
  return u.toString();
}

/** The todo-api binary `bin` on a random port (or `env.API_PORT`), configured by environment only. */
export async function startTodoApi(bin, env) {
  const dir = mkdtempSync(path.join(tmpdir(), "todo-interop-"));
  const child = spawn(bin, ["serve"], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: `sqlite://${dir}/todo.db`,
      API_PORT: "0",
      LOG_FORMAT: "json",
      LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = readline.createInterface({ input: child.stdout });
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("todo-api did not start")), 20000);
    lines.on("line", (line) => {
      try {
        const rec = JSON.parse(line);
        // The API's warnings (auth failure reasons, JWKS trouble) help when a check fails.
        if (rec.level === "WARN" || rec.level === "ERROR") console.log(`     todo-api ${rec.level}: ${JSON.stringify(rec.fields)}`);
        if (rec.fields?.message === "todo-api listening") {
          clearTimeout(timer);
          resolve(rec.fields.address);
        }
      } catch {
        /* not a log line */
      }
    });
    child.on("exit", (code) => reject(new Error(`todo-api exited with ${code}`)));
  });
  return { child, base, dir };
}

/** Sign `who` up by email on the Better Auth server at `baseURL`. */
export async function signUp(baseURL, who) {
  const res = await fetch(`${baseURL}/api/auth/sign-up/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: baseURL },
    body: JSON.stringify({ email: `${who}-${randomBytes(3).toString("hex")}@example.com`, password: "correct horse battery staple", name: who }),
  });
  if (res.status !== 200) throw new Error(`sign-up ${who}: ${res.status} ${await res.text()}`);
  const body = await res.json();
  return {
    user: body.user,
    session: body.token,
    signed: res.headers.get("set-auth-token"),
    cookies: res.headers.getSetCookie().map((c) => c.split(";")[0]).join("; "),
  };
}

/** A jwt() plugin token for a session (the bearer() plugin's header). */
export async function jwtFor(baseURL, session) {
  const res = await fetch(`${baseURL}/api/auth/token`, {
    headers: { authorization: `Bearer ${session}` },
  });
  if (res.status !== 200) throw new Error(`token: ${res.status} ${await res.text()}`);
  return (await res.json()).token;
}
