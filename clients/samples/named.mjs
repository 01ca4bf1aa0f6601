// A dashboard client that reads named envelopes and {error: {code, message}}.
import assert from "node:assert/strict";
import { api } from "./common.mjs";

async function request(path, init) {
  const res = await api(path, init);
  const body = await res.json();
  if (!res.ok) throw new Error(`${body.error.code}: ${body.error.message}`);
  return body;
}

const { task } = await request("/api/tasks", { method: "POST", body: JSON.stringify({ title: "Write report", priority: "Medium", tags: ["work"] }) });
assert.equal(task.title, "Write report");
await request("/api/tasks", { method: "POST", body: JSON.stringify({ title: "Old one", completed: true }) });

const { tasks, total, completed_count, pending_count } = await request("/api/tasks?sort_by=created_at&sort_order=asc");
assert.deepEqual([tasks.length, total, completed_count, pending_count], [2, 2, 1, 1]);
assert.equal(tasks[0].title, "Write report");

const one = await request(`/api/tasks/${task.id}`);
assert.equal(one.task.id, task.id);
await assert.rejects(request("/api/tasks", { method: "POST", body: JSON.stringify({ title: "" }) }), /validation_error: body\.title/);
await assert.rejects(request("/api/tasks/987654321"), /not_found: Task not found/);
console.log("named: ok");
