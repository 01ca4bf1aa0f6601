// A small client of todo-api typed entirely from /openapi.json (schema.d.ts
// is generated from it by openapi-typescript). `tsc --noEmit` type-checks it
// in CI: if the document lost an operation, a parameter or a response shape
// that a frontend relies on, this stops compiling.
import type { components, operations } from "./schema";

export type Task = components["schemas"]["Task"];
export type TaskInput = components["schemas"]["TaskInput"];
export type TaskPatch = components["schemas"]["TaskPatch"];
export type Stats = components["schemas"]["Stats"];
export type Problem = components["schemas"]["FieldError"];

/** The JSON body of an operation's response with status `S`. */
type Body<Op extends keyof operations, S extends keyof operations[Op]["responses"]> =
  operations[Op]["responses"][S] extends { content: { "application/json": infer B } } ? B : never;
/** The query parameters of an operation. */
type Query<Op extends keyof operations> = NonNullable<operations[Op]["parameters"]["query"]>;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: Body<"get_task", 404> | Body<"create_task", 422> | null,
  ) {
    super(`todo-api answered ${status}`);
  }
}

export class TodoApi {
  constructor(
    private readonly base: string,
    private readonly token: () => Promise<string>,
  ) {}

  private async send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const init: RequestInit = {
      method,
      headers: { Authorization: `Bearer ${await this.token()}`, "Content-Type": "application/json", ...headers },
    };
    if (body !== undefined) init.body = JSON.stringify(body);
    const resp = await fetch(`${this.base}${path}`, init);
    if (!resp.ok && resp.status !== 304) {
      const text = await resp.text();
      throw new ApiError(resp.status, text ? JSON.parse(text) : null);
    }
    return resp;
  }

  private static query(q: Record<string, string | number | boolean | string[] | undefined | null>): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) {
      if (Array.isArray(v)) v.forEach((item) => params.append(k, item));
      else if (v !== undefined && v !== null) params.set(k, String(v));
    }
    const s = params.toString();
    return s ? `?${s}` : "";
  }

  /** `/api/…` or, with a user id, `/api/{user_id}/…`. */
  private static prefix(userId?: string): string {
    return userId === undefined ? "/api" : `/api/${encodeURIComponent(userId)}`;
  }

  async listTasks(q: Query<"list_tasks"> = {}, userId?: string): Promise<{ tasks: Body<"list_tasks", 200>; total: number }> {
    const resp = await this.send("GET", `${TodoApi.prefix(userId)}/tasks${TodoApi.query(q)}`);
    const tasks: Body<"list_tasks", 200> | Body<"list_tasks_scoped", 200> = await resp.json();
    return { tasks, total: Number(resp.headers.get("X-Total-Count")) };
  }

  async createTask(input: TaskInput, idempotencyKey?: string, userId?: string): Promise<Body<"create_task", 201>> {
    const headers: Record<string, string> = idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {};
    const resp = await this.send("POST", `${TodoApi.prefix(userId)}/tasks`, input, headers);
    const task: Body<"create_task", 201> | Body<"create_task_scoped", 201> = await resp.json();
    return task;
  }

  async getTask(id: operations["get_task"]["parameters"]["path"]["id"], etag?: string, userId?: string): Promise<Task | "not modified"> {
    const headers: Record<string, string> = etag ? { "If-None-Match": etag } : {};
    const resp = await this.send("GET", `${TodoApi.prefix(userId)}/tasks/${id}`, undefined, headers);
    if (resp.status === 304) return "not modified";
    const task: Body<"get_task", 200> | Body<"get_task_scoped", 200> = await resp.json();
    return task;
  }

  async replaceTask(id: number, input: TaskInput, ifMatch?: string, userId?: string): Promise<Body<"replace_task", 200>> {
    const headers: Record<string, string> = ifMatch ? { "If-Match": ifMatch } : {};
    const resp = await this.send("PUT", `${TodoApi.prefix(userId)}/tasks/${id}`, input, headers);
    const task: Body<"replace_task", 200> | Body<"replace_task_scoped", 200> = await resp.json();
    return task;
  }

  async patchTask(id: number, patch: TaskPatch, ifMatch?: string, userId?: string): Promise<Body<"patch_task", 200>> {
    const headers: Record<string, string> = ifMatch ? { "If-Match": ifMatch } : {};
    const resp = await this.send("PATCH", `${TodoApi.prefix(userId)}/tasks/${id}`, patch, headers);
    const task: Body<"patch_task", 200> | Body<"patch_task_scoped", 200> = await resp.json();
    return task;
  }

  async toggleTask(id: number, userId?: string): Promise<Body<"toggle_task", 200>> {
    const resp = await this.send("PATCH", `${TodoApi.prefix(userId)}/tasks/${id}/complete`);
    const task: Body<"toggle_task", 200> | Body<"toggle_task_scoped", 200> = await resp.json();
    return task;
  }

  /** The `/toggle` spelling some frontends use: the same operation. */
  async toggleTaskAlias(id: number, userId?: string): Promise<Body<"toggle_task_alias", 200>> {
    const resp = await this.send("PATCH", `${TodoApi.prefix(userId)}/tasks/${id}/toggle`);
    const task: Body<"toggle_task_alias", 200> | Body<"toggle_task_alias_scoped", 200> = await resp.json();
    return task;
  }

  async tags(userId?: string): Promise<Body<"list_tags", 200>> {
    const resp = await this.send("GET", `${TodoApi.prefix(userId)}/tags`);
    const tags: Body<"list_tags", 200> | Body<"list_tags_scoped", 200> = await resp.json();
    return tags;
  }

  async deleteTask(id: number, ifMatch?: string, userId?: string): Promise<void> {
    const headers: Record<string, string> = ifMatch ? { "If-Match": ifMatch } : {};
    await this.send("DELETE", `${TodoApi.prefix(userId)}/tasks/${id}`, undefined, headers);
  }

  async stats(userId?: string): Promise<Body<"task_stats", 200>> {
    const resp = await this.send("GET", `${TodoApi.prefix(userId)}/stats`);
    const stats: Body<"task_stats", 200> | Body<"task_stats_scoped", 200> = await resp.json();
    return stats;
  }

  /** The changes after `since` (a cursor from the last page; 0 at first). */
  async changes(q: Query<"list_changes"> = {}, userId?: string): Promise<Body<"list_changes", 200>> {
    const resp = await this.send("GET", `${TodoApi.prefix(userId)}/tasks/changes${TodoApi.query(q)}`);
    const page: Body<"list_changes", 200> | Body<"list_changes_scoped", 200> = await resp.json();
    return page;
  }

  /** A one-time ticket for `new EventSource(…/api/events?ticket=…)`. */
  async eventTicket(userId?: string): Promise<Body<"create_event_ticket", 200>> {
    const resp = await this.send("POST", `${TodoApi.prefix(userId)}/events/ticket`);
    const ticket: Body<"create_event_ticket", 200> | Body<"create_event_ticket_scoped", 200> = await resp.json();
    return ticket;
  }

  /** Follow the event stream with the bearer header (a fetch-based SSE
   * client); `onChange` gets each change; resolves when the stream ends
   * (reconnect with the last id returned). */
  async followEvents(
    onChange: (event: string, change: components["schemas"]["ChangeEntry"]) => void,
    lastEventId?: string,
    userId?: string,
  ): Promise<string | undefined> {
    const headers: Record<string, string> = lastEventId ? { "Last-Event-ID": lastEventId } : {};
    const resp = await this.send("GET", `${TodoApi.prefix(userId)}/events`, undefined, headers);
    const reader = resp.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let last = lastEventId;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return last;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("id:")) last = line.slice(3).trim();
          else if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trim();
        }
        if (data) onChange(event, JSON.parse(data));
      }
    }
  }

  async me(): Promise<Body<"me", 200>> {
    return (await this.send("GET", "/api/me")).json();
  }

  async health(): Promise<Body<"health", 200>> {
    return (await fetch(`${this.base}/health`)).json();
  }

  async metrics(): Promise<string> {
    return (await fetch(`${this.base}/metrics`)).text();
  }
}

/** Every operation, in both route styles, as a frontend would call them. */
export async function tour(api: TodoApi, userId: string): Promise<void> {
  const created: Task = await api.createTask(
    { title: "Buy milk", priority: "high", due_date: "2030-01-02", tags: ["errand"] },
    "key-1",
  );
  const again: Task = await api.createTask({ title: "Scoped" }, undefined, userId);
  const { tasks, total } = await api.listTasks({ status: "pending", sort: "due_date", order: "asc", limit: 20, q: "milk" });
  await api.listTasks({ overdue: true, offset: 0, tag: ["errand"], sortBy: "-dueDate", search: "milk" }, userId);
  const fetched = await api.getTask(created.id, `"${created.id}"`);
  await api.getTask(again.id, undefined, userId);
  const replaced = await api.replaceTask(created.id, { title: "Buy oat milk", completed: false }, '"1"');
  await api.replaceTask(again.id, { title: "Scoped, replaced" }, undefined, userId);
  const patched = await api.patchTask(created.id, { description: null, due_date: null, category: "home" });
  await api.patchTask(again.id, { completed: true }, "*", userId);
  const toggled = await api.toggleTask(created.id);
  await api.toggleTask(again.id, userId);
  const flipped = await api.toggleTaskAlias(created.id);
  await api.toggleTaskAlias(again.id, userId);
  const tags = await api.tags();
  await api.tags(userId);
  const stats: Stats = await api.stats();
  await api.stats(userId);
  const page = await api.changes({ since: "0", limit: 100 });
  await api.changes({ since: page.cursor }, userId);
  const { ticket } = await api.eventTicket();
  await api.eventTicket(userId);
  const lastId = await api.followEvents((event, change) => console.log(event, change.seq, change.op, change.task?.title));
  await api.followEvents(() => {}, lastId, userId);
  const me = await api.me();
  const health = await api.health();
  const metrics = await api.metrics();
  await api.deleteTask(created.id, `"${toggled.id}"`);
  await api.deleteTask(again.id, undefined, userId);
  const titles: string[] = tasks.map((t) => t.title).concat(flipped.tags, tags.map((t) => `${t.name} ${t.count}`));
  const done: boolean = toggled.completed && patched.status === "completed";
  // Closed sets are enums in the document: the generated types are unions.
  const status: "pending" | "completed" = created.status;
  const priority: "low" | "medium" | "high" = created.priority;
  const category: "work" | "personal" | "home" | "other" = created.category;
  const ops: ("upsert" | "delete")[] = page.changes.map((c) => c.op);
  const counted: number = stats.total + stats.by_priority["high"]! + me.tasks.overdue + total;
  console.log(titles, done, counted, fetched, replaced.updated_at, health.status, metrics.length, ticket, page.has_more, status, priority, category, ops);
}
