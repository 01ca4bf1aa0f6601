// Live updates (docs/live-updates.md): many open event streams, and the time from a
// write's response to its event on each stream of its user. Driven by
// bench/events.sh, which starts the servers; node 20, no dependencies.
//
// Env: BASES (comma list of API base URLs; streams are spread over them,
// writes go to the first), PIDS (the servers' pids, for RSS), SECRET,
// USERS, PER_USER (streams per user), RATES (writes per second, comma
// list), SECONDS (per rate).
import http from "node:http";
import crypto from "node:crypto";
import fs from "node:fs";

const bases = process.env.BASES.split(",");
const pids = (process.env.PIDS || "").split(",").filter(Boolean);
const secret = process.env.SECRET;
const users = Number(process.env.USERS || 1000);
const perUser = Number(process.env.PER_USER || 10);
const rates = (process.env.RATES || "1,100").split(",").map(Number);
const seconds = Number(process.env.SECONDS || 20);
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
function token(user) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64({ alg: "HS256", typ: "JWT" });
  const body = b64({ sub: user, iat: now, exp: now + 7200 });
  const sig = crypto.createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}
const tokens = Array.from({ length: users }, (_, i) => token(`bench-user-${i}`));

const rssKb = (pid) => {
  const line = fs.readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"));
  return Number(line.split(/\s+/)[1]);
};
const totalRss = () => pids.reduce((sum, pid) => sum + rssKb(pid), 0);

// Each stream: its base, and the arrival time of each task id's events.
const arrivals = new Map(); // task id -> [{ base, at }]
let opened = 0;
let failed = 0;
function openStream(base, user) {
  return new Promise((resolve) => {
    const req = http.get(`${base}/api/events`, { agent, headers: { Authorization: `Bearer ${tokens[user]}` } }, (res) => {
      if (res.statusCode !== 200) {
        failed++;
        res.resume();
        return resolve();
      }
      opened++;
      resolve();
      let buf = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        buf += chunk;
        let end;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const data = block.split("\n").find((l) => l.startsWith("data:"));
          if (!data) continue;
          const change = JSON.parse(data.slice(5));
          const at = performance.now();
          if (!arrivals.has(change.id)) arrivals.set(change.id, []);
          arrivals.get(change.id).push({ base, at });
        }
      });
    });
    req.on("error", () => {
      failed++;
      resolve();
    });
  });
}

function post(base, user, title) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ title });
    const req = http.request(
      `${base}/api/tasks`,
      { method: "POST", agent, headers: { Authorization: `Bearer ${tokens[user]}`, "Content-Type": "application/json" } },
      (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => (res.statusCode === 201 ? resolve(JSON.parse(text).id) : reject(new Error(`${res.statusCode} ${text}`))));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function main() {
  const before = totalRss();
  // Open the streams a batch at a time (the accept queue is finite).
  const total = users * perUser;
  for (let start = 0; start < total; start += 500) {
    const batch = [];
    for (let i = start; i < Math.min(total, start + 500); i++) {
      const user = i % users;
      batch.push(openStream(bases[i % bases.length], user));
    }
    await Promise.all(batch);
  }
  await new Promise((r) => setTimeout(r, 2000));
  const after = totalRss();
  const result = {
    streams: opened,
    refused: failed,
    rss_before_kb: before,
    rss_after_kb: after,
    rss_per_stream_kb: opened ? (after - before) / opened : null,
    rates: [],
  };
  for (const rate of rates) {
    const written = []; // { id, responded }
    const n = rate * seconds;
    const gap = 1000 / rate;
    const t0 = performance.now();
    const pending = [];
    for (let i = 0; i < n; i++) {
      const due = t0 + i * gap;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const user = (i * 7919) % users;
      pending.push(
        post(bases[0], user, `bench ${rate}/s ${i}`).then((id) => written.push({ id, responded: performance.now() })),
      );
    }
    await Promise.all(pending);
    await new Promise((r) => setTimeout(r, 2000));
    const byBase = new Map(bases.map((b) => [b, []]));
    let missing = 0;
    for (const w of written) {
      const got = arrivals.get(w.id) || [];
      missing += perUser - got.length;
      for (const a of got) byBase.get(a.base).push(Math.max(0, a.at - w.responded));
    }
    const per = {};
    for (const [base, lat] of byBase) {
      lat.sort((x, y) => x - y);
      per[base] = { events: lat.length, p50_ms: +pct(lat, 50)?.toFixed(2), p99_ms: +pct(lat, 99)?.toFixed(2), max_ms: +lat[lat.length - 1]?.toFixed(2) };
    }
    result.rates.push({ writes_per_second: rate, writes: written.length, events_missing: missing, latency: per });
  }
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
