// A TypeScript-style client whose types are camelCase and whose backend
// wrapped everything in {data}.
import assert from "node:assert/strict";
import { api } from "./common.mjs";

async function get(path, init) {
  const res = await api(path, init);
  const { data, error } = await res.json();
  if (!res.ok) throw new Error(error.message);
  return data;
}

const created = await get("/api/tasks", { method: "POST", body: JSON.stringify({ title: "Plan trip", dueDate: "2030-06-01", isCompleted: false }) });
assert.equal(created.dueDate, "2030-06-01T00:00:00.000000Z");
assert.ok(!Number.isNaN(new Date(created.createdAt).getTime()), "createdAt is a date");
assert.equal(created.userId, process.env.API_USER);

await get("/api/tasks", { method: "POST", body: JSON.stringify({ title: "Book hotel", dueDate: "2030-05-01" }) });
const { tasks, total } = await get("/api/tasks?sortBy=dueDate&sortOrder=asc");
assert.equal(total, 2);
assert.deepEqual(tasks.map((t) => t.title), ["Book hotel", "Plan trip"]);

const patched = await get(`/api/tasks/${created.id}`, { method: "PATCH", body: JSON.stringify({ isCompleted: true }) });
assert.equal(patched.completed, true);
const stats = await get("/api/stats");
assert.equal(stats.completionRate, 0.5);
console.log("camel-data: ok");
