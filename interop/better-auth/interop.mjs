// Interop test: real Better Auth (jwt() and bearer() plugins, PostgreSQL
// through `pg`) against the built todo-api binary.
//
// For each signing algorithm Better Auth offers it starts a Better Auth server
// on its own database and a todo-api that knows nothing but BETTER_AUTH_URL
// (plus the shared secret and the session database for bearer() tokens),
// signs two users up over HTTP, and drives the API: create, list, isolation,
// tampered and expired tokens, session tokens raw and signed, sign-out, and
// (EdDSA) key rotation and reset.
//
//   TODO_API_BIN=../../target/debug/todo-api PG_URL=postgres://postgres@127.0.0.1/test node interop.mjs

import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import http from "node:http";
import path from "node:path";

import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { bearer, jwt } from "better-auth/plugins";
import pg from "pg";

import { dbUrl as withName, expect, header, jwtFor as tokenFor, payload, signUp as signUpAt, sleep, startTodoApi as startBin, tally } from "../common.mjs";

const BIN = path.resolve(process.env.TODO_API_BIN ?? "../../target/debug/todo-api");
const PG_URL =
  process.env.PG_URL ?? process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const SECRET = randomBytes(32).toString("hex");
const ALGS = (process.env.ALGS ?? "EdDSA,ES256,ES512,RS256,PS256").split(",");

const dbUrl = (name) => withName(PG_URL, name);
const startTodoApi = (env) => startBin(BIN, env);
const signUp = (ba, who) => signUpAt(ba.baseURL, who);
const jwtFor = (ba, session) => tokenFor(ba.baseURL, session);

/** A Better Auth server with its own database, on a random port. */
async function startBetterAuth(alg, admin, extra = {}) {
  const name = `ba_interop_${alg.toLowerCase()}_${randomBytes(4).toString("hex")}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const pool = new pg.Pool({ connectionString: dbUrl(name), max: 4 });
  const server = http.createServer();
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const baseURL = `http://127.0.0.1:${server.address().port}`;
  const state = { expired: false };
  const options = {
    baseURL,
    secret: SECRET,
    database: pool,
    emailAndPassword: { enabled: true },
    plugins: [
      jwt({
        jwks: { keyPairConfig: { alg }, ...extra.jwks },
        jwt: {
          // Lets the test ask for an already expired token.
          definePayload: ({ user }) =>
            state.expired ? { ...user, exp: Math.floor(Date.now() / 1000) - 3600 } : user,
        },
      }),
      bearer(),
    ],
  };
  const { runMigrations } = await getMigrations(options);
  await runMigrations();
  const auth = betterAuth(options);
  server.on("request", toNodeHandler(auth));
  return { name, pool, server, baseURL, state, dbUrl: dbUrl(name) };
}

async function api(base, method, route, token, body) {
  const res = await fetch(`${base}${route}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { "content-type": "application/json" } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

function tamper(token) {
  const [h, p, s] = token.split(".");
  const claims = JSON.parse(Buffer.from(p, "base64url").toString());
  claims.sub = claims.id = "someone-else";
  return [h, Buffer.from(JSON.stringify(claims)).toString("base64url"), s].join(".");
}

async function runAlg(alg, admin) {
  console.log(`\n# ${alg}`);
  const rotating = alg === "EdDSA";
  const ba = await startBetterAuth(alg, admin, rotating ? { jwks: { rotationInterval: 4 } } : {});
  const api_ = await startTodoApi({
    BETTER_AUTH_URL: ba.baseURL,
    BETTER_AUTH_SECRET: SECRET,
    BETTER_AUTH_SESSION_DB_URL: ba.dbUrl,
    BETTER_AUTH_SESSION_CACHE_SECONDS: "1",
    JWKS_COOLDOWN_SECONDS: "1",
  });
  try {
    const alice = await signUp(ba, "alice");
    const bob = await signUp(ba, "bob");
    const aliceJwt = await jwtFor(ba, alice.session);
    const bobJwt = await jwtFor(ba, bob.session);
    expect(`${alg}: Better Auth signs with ${alg}`, header(aliceJwt).alg, alg);
    expect(`${alg}: sub is the user id`, payload(aliceJwt).sub, alice.user.id);

    const created = await api(api_.base, "POST", "/api/tasks", aliceJwt, { title: `written with ${alg}` });
    expect(`${alg}: create`, created.status, 201);
    const id = created.body?.id;
    const list = await api(api_.base, "GET", "/api/tasks", aliceJwt);
    expect(`${alg}: list`, [list.status, list.body?.map((t) => t.title)], [200, [`written with ${alg}`]]);
    const scoped = await api(api_.base, "GET", `/api/${alice.user.id}/tasks/${id}`, aliceJwt);
    expect(`${alg}: scoped route`, scoped.status, 200);
    const me = await api(api_.base, "GET", "/api/me", aliceJwt);
    expect(`${alg}: /api/me`, [me.body?.id, me.body?.email], [alice.user.id, alice.user.email]);

    // Isolation between two Better Auth users.
    expect(`${alg}: bob's list is empty`, (await api(api_.base, "GET", "/api/tasks", bobJwt)).body, []);
    expect(`${alg}: bob cannot read alice's task`, (await api(api_.base, "GET", `/api/tasks/${id}`, bobJwt)).status, 404);
    expect(`${alg}: bob cannot delete it`, (await api(api_.base, "DELETE", `/api/tasks/${id}`, bobJwt)).status, 404);
    expect(`${alg}: bob on alice's path`, (await api(api_.base, "GET", `/api/${alice.user.id}/tasks`, bobJwt)).status, 403);

    // Tampered and expired tokens.
    expect(`${alg}: tampered payload`, (await api(api_.base, "GET", "/api/tasks", tamper(aliceJwt))).status, 401);
    ba.state.expired = true;
    const expired = await jwtFor(ba, alice.session);
    ba.state.expired = false;
    expect(`${alg}: expired token is really expired`, payload(expired).exp < Date.now() / 1000, true);
    expect(`${alg}: expired`, (await api(api_.base, "GET", "/api/tasks", expired)).status, 401);

    // bearer() session tokens, raw and signed, then signed out.
    const viaRaw = await api(api_.base, "GET", "/api/me", alice.session);
    expect(`${alg}: raw session token`, [viaRaw.status, viaRaw.body?.id], [200, alice.user.id]);
    const viaSigned = await api(api_.base, "GET", `/api/tasks/${id}`, alice.signed);
    expect(`${alg}: signed session token (set-auth-token)`, viaSigned.status, 200);
    expect(`${alg}: session token of bob`, (await api(api_.base, "GET", `/api/tasks/${id}`, bob.session)).status, 404);
    const forged = `${alice.session}.${Buffer.alloc(32).toString("base64")}`;
    expect(`${alg}: session token with a wrong HMAC`, (await api(api_.base, "GET", "/api/tasks", forged)).status, 401);
    const out = await fetch(`${ba.baseURL}/api/auth/sign-out`, {
      method: "POST",
      headers: { authorization: `Bearer ${bob.session}`, origin: ba.baseURL },
    });
    expect(`${alg}: bob signs out`, out.status, 200);
    await sleep(1200); // the API's session cache (1 s here)
    expect(`${alg}: signed-out session`, (await api(api_.base, "GET", "/api/tasks", bob.session)).status, 401);

    if (rotating) {
      // rotationInterval 4 s: the next token is signed by a new key.
      await sleep(4500);
      const rotated = await jwtFor(ba, alice.session);
      expect(`${alg}: rotation gives a new kid`, header(rotated).kid !== header(aliceJwt).kid, true);
      expect(`${alg}: token of the new key`, (await api(api_.base, "GET", "/api/tasks", rotated)).status, 200);
      expect(`${alg}: token of the old key (grace period)`, (await api(api_.base, "GET", "/api/tasks", aliceJwt)).status, 200);
      // Keys reset: old tokens fail, new ones carry an unknown kid.
      await ba.pool.query("DELETE FROM jwks");
      await sleep(1100); // the API's JWKS cooldown (1 s here)
      const fresh = await jwtFor(ba, alice.session);
      expect(`${alg}: token after a key reset`, (await api(api_.base, "GET", "/api/tasks", fresh)).status, 200);
      expect(`${alg}: token of a deleted key`, (await api(api_.base, "GET", "/api/tasks", rotated)).status, 401);
    }
  } finally {
    api_.child.kill("SIGTERM");
    await new Promise((r) => api_.child.once("exit", r));
    rmSync(api_.dir, { recursive: true, force: true });
    await new Promise((r) => ba.server.close(r));
    ba.server.closeAllConnections?.();
    await ba.pool.end();
    await admin.query(`DROP DATABASE IF EXISTS ${ba.name}`);
  }
}

const admin = new pg.Client({ connectionString: PG_URL });
await admin.connect();
try {
  for (const alg of ALGS) await runAlg(alg, admin);
} catch (e) {
  tally.failures++;
  console.log(`FAIL ${e.stack}`);
} finally {
  await admin.end();
}
const { version } = JSON.parse(
  readFileSync(new URL("./node_modules/better-auth/package.json", import.meta.url)),
);
console.log(`\ninterop: ${tally.passes} passed, ${tally.failures} failed (better-auth ${version})`);
process.exit(tally.failures === 0 ? 0 : 1);
