// A kanban board: dragging a card PUTs only what changed, columns read
// is_completed, and the API helper always calls res.json().
import assert from "node:assert/strict";
import { api } from "./common.mjs";

const json = async (res) => ({ status: res.status, body: await res.json() });

const { body: card } = await json(await api("/api/tasks", { method: "POST", body: JSON.stringify({ title: "Ship it", priority: "low" }) }));
assert.equal(card.is_completed, false);

const moved = await json(await api(`/api/tasks/${card.id}`, { method: "PUT", body: JSON.stringify({ completed: true, priority: "high" }) }));
assert.equal(moved.status, 200);
assert.deepEqual([moved.body.title, moved.body.is_completed, moved.body.priority], ["Ship it", true, "high"]);

const flipped = await json(await api(`/api/tasks/${card.id}/toggle`, { method: "PATCH" }));
assert.equal(flipped.body.is_completed, false);

const removed = await json(await api(`/api/tasks/${card.id}`, { method: "DELETE" }));
assert.deepEqual(removed, { status: 200, body: { id: card.id, deleted: true, message: "Task deleted" } });
console.log("kanban: ok");
