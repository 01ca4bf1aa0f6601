-- wrk script for the benchmark: many users' tokens, one workload.
--   WORKLOAD = list | get | create | toggle | mixed (40 list, 40 get,
--              10 create, 10 toggle); TOKENS = a file of tokens, line i for
--              user bench-i, whose tasks are ids (i-1)*TASKS+1 .. i*TASKS.
-- done() prints one JSON line that bench/run.sh collects.
local workload = os.getenv("WORKLOAD") or "list"
local tasks = tonumber(os.getenv("TASKS") or "20")
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
  tokens[#tokens + 1] = "Bearer " .. line
end
local users = #tokens
local body = '{"title":"Benchmark task","description":"Created by the benchmark","priority":"high","category":"work"}'
local json = { ["Content-Type"] = "application/json" }

local thread_no = 0
function setup(thread)
  thread_no = thread_no + 1
  thread:set("seed", thread_no)
end

function init(args)
  math.randomseed(seed * 7919)
end

local function pick()
  local u = math.random(users)
  local id = (u - 1) * tasks + math.random(tasks)
  return tokens[u], id
end

local function one(kind)
  local token, id = pick()
  local headers = { ["Authorization"] = token }
  if kind == "list" then
    return wrk.format("GET", "/api/tasks", headers)
  elseif kind == "get" then
    return wrk.format("GET", "/api/tasks/" .. id, headers)
  elseif kind == "create" then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/api/tasks", headers, body)
  else
    return wrk.format("PATCH", "/api/tasks/" .. id .. "/complete", headers)
  end
end

function request()
  if workload ~= "mixed" then
    return one(workload)
  end
  local r = math.random(100)
  if r <= 40 then return one("list")
  elseif r <= 80 then return one("get")
  elseif r <= 90 then return one("create")
  else return one("toggle") end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
    '"non2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect, e.read, e.write, e.timeout))
end
