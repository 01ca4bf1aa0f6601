// A seed-style client (bare JSON, snake_case), using the conventions that are
// always on: enum spellings from a <select>, status words, search/sort aliases,
// the /toggle route, tags typed into one text box.
import assert from "node:assert/strict";
import { api, USER } from "./common.mjs";

async function createTask(form) {
  const res = await api(`/api/${USER}/tasks`, { method: "POST", body: JSON.stringify(form) });
  assert.equal(res.status, 201);
  return res.json();
}

const milk = await createTask({ title: "Buy milk", priority: "High", status: "Pending", due_date: "2030-01-02", tags: "errand, shop" });
await createTask({ title: "Call mum", priority: "Low", status: "done", due_date: "2030-01-01" });
assert.equal(milk.priority, "high");
assert.deepEqual(milk.tags, ["errand", "shop"]);

const res = await api(`/api/${USER}/tasks?status=incomplete&search=MILK&sort_by=-dueDate`);
const tasks = await res.json();
assert.equal(res.headers.get("x-total-count"), "1");
assert.deepEqual(tasks.map((t) => t.title), ["Buy milk"]);

const toggled = await (await api(`/api/${USER}/tasks/${milk.id}/toggle`, { method: "PATCH" })).json();
assert.equal(toggled.completed, true);
const tags = await (await api(`/api/${USER}/tags`)).json();
assert.deepEqual(tags, [{ name: "errand", count: 1 }, { name: "shop", count: 1 }]);
const stats = await (await api(`/api/${USER}/stats`)).json();
assert.equal(stats.completed, 2);
const del = await api(`/api/${USER}/tasks/${milk.id}`, { method: "DELETE" });
assert.equal(del.status, 204);
console.log("seed: ok");
