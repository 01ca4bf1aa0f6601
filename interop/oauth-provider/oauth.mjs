// Interop test: Better Auth's OAuth provider (@better-auth/oauth-provider
// with jwt()) as the authorization server of todo-api's /mcp (docs/mcp.md).
//
// A Better Auth server on its own PostgreSQL database, and a todo-api that
// knows BETTER_AUTH_URL and MCP_RESOURCE_URL (its own /mcp). A user signs
// up; a public client (PKCE, no secret) runs the authorization-code flow for
// the resource; /mcp accepts the access token it gets, while a plain jwt()
// token and an access token for another resource are refused there.
//
//   TODO_API_BIN=../../target/debug/todo-api PG_URL=postgres://postgres@127.0.0.1/test node oauth.mjs

import { createHash, randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";

import { oauthProvider } from "@better-auth/oauth-provider";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { bearer, jwt } from "better-auth/plugins";
import pg from "pg";

import { dbUrl, expect, header, jwtFor, payload, signUp, startTodoApi, tally } from "../common.mjs";

const BIN = path.resolve(process.env.TODO_API_BIN ?? "../../target/debug/todo-api");
const PG_URL =
  process.env.PG_URL ?? process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const REDIRECT = "http://127.0.0.1:9/callback";

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const b64url = (buf) => buf.toString("base64url");

/** The authorization-code flow with PKCE for `resource`: the token response. */
async function authorize(baseURL, clientId, cookies, resource) {
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash("sha256").update(verifier).digest());
  const state = b64url(randomBytes(8));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT,
    scope: "openid profile email",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
    resource,
  });
  let res = await fetch(`${baseURL}/api/auth/oauth2/authorize?${query}`, {
    headers: { cookie: cookies },
    redirect: "manual",
  });
  let location = res.headers.get("location");
  if (!location && res.status === 200) {
    // A JSON answer with the redirect (fetch-style clients).
    const body = await res.json().catch(() => ({}));
    location = body.url ?? body.redirect_uri;
  }
  if (!location) throw new Error(`authorize: ${res.status} ${await res.text()}`);
  const back = new URL(location, baseURL);
  const code = back.searchParams.get("code");
  if (!code) throw new Error(`authorize: no code in ${location}`);
  expect(`authorize: state comes back (${resource})`, back.searchParams.get("state"), state);
  res = await fetch(`${baseURL}/api/auth/oauth2/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: REDIRECT,
      client_id: clientId,
      code_verifier: verifier,
      resource,
    }),
  });
  const tokens = await res.json();
  if (res.status !== 200) throw new Error(`token: ${res.status} ${JSON.stringify(tokens)}`);
  return tokens;
}

/** `tools/call` at /mcp with `token`: the HTTP status and the JSON-RPC message. */
async function mcpCall(base, token, tool, args) {
  const res = await fetch(`${base}/mcp`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2026-07-28",
      "mcp-method": "tools/call",
      "mcp-name": tool,
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: {
        name: tool,
        arguments: args,
        _meta: {
          "io.modelcontextprotocol/protocolVersion": "2026-07-28",
          "io.modelcontextprotocol/clientInfo": { name: "oauth-interop", version: "1" },
          "io.modelcontextprotocol/clientCapabilities": {},
        },
      },
    }),
  });
  const text = await res.text();
  let message = null;
  try {
    message = JSON.parse(text);
  } catch {
    /* an error body or an event stream */
  }
  return { status: res.status, message, challenge: res.headers.get("www-authenticate") };
}

const admin = new pg.Client({ connectionString: PG_URL });
await admin.connect();
const name = `ba_oauth_${randomBytes(4).toString("hex")}`;
await admin.query(`CREATE DATABASE ${name}`);
const pool = new pg.Pool({ connectionString: dbUrl(PG_URL, name), max: 4 });
const server = http.createServer();
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const baseURL = `http://127.0.0.1:${server.address().port}`;
const apiPort = await freePort();
const RESOURCE = `http://127.0.0.1:${apiPort}/mcp`;
const OTHER = "https://other.example.com/mcp";
let api;
try {
  const options = {
    baseURL,
    secret: randomBytes(32).toString("hex"),
    database: pool,
    emailAndPassword: { enabled: true },
    plugins: [
      jwt(),
      bearer(),
      oauthProvider({
        loginPage: "/sign-in",
        consentPage: "/consent",
        resources: [RESOURCE, OTHER],
        enforcePerClientResources: false,
      }),
    ],
  };
  const { runMigrations } = await getMigrations(options);
  await runMigrations();
  const auth = betterAuth(options);
  server.on("request", toNodeHandler(auth));
  api = await startTodoApi(BIN, {
    API_PORT: String(apiPort),
    BETTER_AUTH_URL: baseURL,
    MCP_RESOURCE_URL: RESOURCE,
  });

  const meta = await (await fetch(`${api.base}/.well-known/oauth-protected-resource/mcp`)).json();
  expect("metadata names the resource", meta.resource, RESOURCE);
  expect("metadata names Better Auth as the authorization server", meta.authorization_servers, [baseURL]);
  const anonymous = await mcpCall(api.base, "", "task_stats", {});
  expect("no token: 401 pointing at the metadata", [anonymous.status, anonymous.challenge],
    [401, `Bearer resource_metadata="http://127.0.0.1:${apiPort}/.well-known/oauth-protected-resource/mcp"`]);

  const alice = await signUp(baseURL, "alice");
  const client = await auth.api.adminCreateOAuthClient({
    headers: new Headers({ cookie: alice.cookies }),
    body: {
      client_name: "an MCP client",
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: "none",
      application_type: "native",
      grant_types: ["authorization_code"],
      response_types: ["code"],
      skip_consent: true,
    },
  });
  const tokens = await authorize(baseURL, client.client_id, alice.cookies, RESOURCE);
  const access = tokens.access_token;
  expect("the access token is a JWT with typ at+jwt", header(access).typ?.toLowerCase(), "at+jwt");
  expect("its audience is the resource", [payload(access).aud].flat().includes(RESOURCE), true);
  expect("its subject is the user", payload(access).sub, alice.user.id);
  console.log(`     access token: iss ${payload(access).iss}, alg ${header(access).alg}, scope ${payload(access).scope}`);

  const created = await mcpCall(api.base, access, "create_task", { title: "via OAuth" });
  expect("/mcp accepts the access token", [created.status, created.message?.result?.isError], [200, false]);
  expect("the task is the user's", created.message?.result?.structuredContent?.user_id, alice.user.id);
  const listed = await mcpCall(api.base, access, "list_tasks", {});
  expect("list_tasks with it", listed.message?.result?.structuredContent?.total, 1);

  const plain = await jwtFor(baseURL, alice.session);
  const refused = await mcpCall(api.base, plain, "task_stats", {});
  expect("a plain jwt() token is refused at /mcp", refused.status, 401);
  const other = (await authorize(baseURL, client.client_id, alice.cookies, OTHER)).access_token;
  expect("the other resource's token names it", [payload(other).aud].flat().includes(OTHER), true);
  const otherRefused = await mcpCall(api.base, other, "task_stats", {});
  expect("an access token for another resource is refused", otherRefused.status, 401);
  // The REST API keeps its own rules: the plain jwt() token works there.
  const rest = await fetch(`${api.base}/api/tasks`, { headers: { authorization: `Bearer ${plain}` } });
  expect("the plain jwt() token still works on the REST API", rest.status, 200);
} catch (e) {
  tally.failures++;
  console.log(`FAIL ${e.stack} ${JSON.stringify(e.body ?? "")} ${e.status ?? ""}`);
} finally {
  if (api) {
    api.child.kill("SIGTERM");
    await new Promise((r) => api.child.once("exit", r));
    rmSync(api.dir, { recursive: true, force: true });
  }
  await new Promise((r) => server.close(r));
  server.closeAllConnections?.();
  await pool.end();
  await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  await admin.end();
}
const version = (pkg) =>
  JSON.parse(readFileSync(new URL(`./node_modules/${pkg}/package.json`, import.meta.url))).version;
console.log(
  `\noauth interop: ${tally.passes} passed, ${tally.failures} failed (better-auth ${version("better-auth")}, oauth-provider ${version("@better-auth/oauth-provider")})`,
);
process.exit(tally.failures === 0 ? 0 : 1);
