// The official MCP TypeScript SDK (@modelcontextprotocol/sdk) against a
// running todo-api over Streamable HTTP: list the tools, call each one,
// check the structured results (the SDK validates them against each tool's
// output schema), a tool error naming the field, and two users' isolation.
//
//   MCP_URL=http://127.0.0.1:8000/mcp TOKEN_A=… TOKEN_B=… node check.mjs
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const url = new URL(process.env.MCP_URL);
let passed = 0;
let failed = 0;

async function connect(token) {
  const client = new Client({ name: "todo-api-check", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(url, {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return client;
}

async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}: ${e.stack || e}`);
  }
}

const ann = await connect(process.env.TOKEN_A);
const bob = await connect(process.env.TOKEN_B);
console.log(`protocol ${ann.transport.protocolVersion ?? "(negotiated)"}, server ${JSON.stringify(ann.getServerVersion())}`);

let tools = [];
let task;
await check("tools/list: seven tools, each with input and output schemas and annotations", async () => {
  tools = (await ann.listTools()).tools;
  assert.deepEqual(tools.map((t) => t.name), [
    "list_tasks", "get_task", "add_task", "update_task", "complete_task", "delete_task", "task_stats",
  ]);
  for (const t of tools) {
    assert.equal(t.inputSchema.type, "object", t.name);
    assert.equal(t.outputSchema?.type, "object", t.name);
    assert.equal(typeof t.annotations?.readOnlyHint, "boolean", t.name);
  }
  assert.equal(tools.find((t) => t.name === "delete_task").annotations.destructiveHint, true);
});

await check("add_task: the task as structured content", async () => {
  const r = await ann.callTool({ name: "add_task", arguments: { title: "From the SDK", priority: "high", tags: ["sdk"] } });
  assert.equal(r.isError, false);
  task = r.structuredContent;
  assert.equal(task.title, "From the SDK");
  assert.deepEqual(task.tags, ["sdk"]);
  assert.equal(JSON.parse(r.content[0].text).id, task.id);
});

await check("list_tasks: filters and the total", async () => {
  const r = await ann.callTool({ name: "list_tasks", arguments: { tag: ["sdk"], priority: "high" } });
  assert.equal(r.structuredContent.total, 1);
  assert.equal(r.structuredContent.tasks[0].id, task.id);
});

await check("get_task, update_task (merge), complete_task", async () => {
  const got = await ann.callTool({ name: "get_task", arguments: { id: task.id } });
  assert.deepEqual(got.structuredContent, task);
  const upd = await ann.callTool({ name: "update_task", arguments: { id: task.id, title: "Renamed" } });
  assert.equal(upd.structuredContent.title, "Renamed");
  assert.deepEqual(upd.structuredContent.tags, ["sdk"]);
  const done = await ann.callTool({ name: "complete_task", arguments: { id: task.id } });
  assert.equal(done.structuredContent.completed, true);
});

await check("task_stats", async () => {
  const r = await ann.callTool({ name: "task_stats", arguments: {} });
  assert.equal(r.structuredContent.total, 1);
  assert.equal(r.structuredContent.completed, 1);
});

await check("a bad argument is a tool error naming the field", async () => {
  const r = await ann.callTool({ name: "create_task", arguments: { title: "" } });
  assert.equal(r.isError, true);
  assert.match(r.content[0].text, /title:/);
});

await check("another user sees, changes and deletes nothing", async () => {
  for (const [name, args] of [
    ["get_task", { id: task.id }],
    ["update_task", { id: task.id, title: "mine" }],
    ["set_task_completed", { id: task.id, completed: false }],
    ["delete_task", { id: task.id }],
  ]) {
    const r = await bob.callTool({ name, arguments: args });
    assert.equal(r.isError, true, name);
    assert.equal(r.content[0].text, "Task not found", name);
  }
  const list = await bob.callTool({ name: "list_tasks", arguments: {} });
  assert.deepEqual(list.structuredContent, { tasks: [], total: 0 });
  const stats = await bob.callTool({ name: "task_stats", arguments: {} });
  assert.equal(stats.structuredContent.total, 0);
});

await check("delete_task", async () => {
  const r = await ann.callTool({ name: "delete_task", arguments: { id: task.id } });
  assert.deepEqual(r.structuredContent, { id: task.id, deleted: true });
  const gone = await ann.callTool({ name: "get_task", arguments: { id: task.id } });
  assert.equal(gone.isError, true);
});

await ann.close();
await bob.close();
console.log(`mcp client: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
