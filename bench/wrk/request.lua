-- One request shape for every wrk scenario of `make bench`.
-- wrk -s request.lua URL -- METHOD PATH SPEC_FILE
-- WRK_DELAY_MS in the environment paces each connection (a light, steady probe).
-- SPEC_FILE: first line a Content-Type ("-" for none), second line a body template ("-" for
-- none), then one Authorization header value per line (rotated per request). "{n}" in the
-- body is replaced by a per-thread counter (for cold-cache questions).
local method, path = "GET", "/"
local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "0")
local content_type, body, auths = nil, nil, {}
local i, n = 0, 0

function init(args)
  method, path = args[1], args[2]
  local lines = {}
  for line in io.lines(args[3]) do lines[#lines + 1] = line end
  if lines[1] ~= "-" then content_type = lines[1] end
  if lines[2] ~= "-" then body = lines[2] end
  for k = 3, #lines do if lines[k] ~= "" then auths[#auths + 1] = lines[k] end end
  n = math.random(1, 1000000) * 1000
end

function request()
  local headers = {}
  if #auths > 0 then
    i = i % #auths + 1
    headers["Authorization"] = auths[i]
  end
  if content_type then headers["Content-Type"] = content_type end
  local b = body
  if b and b:find("{n}", 1, true) then
    n = n + 1
    b = b:gsub("{n}", tostring(n))
  end
  return wrk.format(method, path, headers, b)
end

if delay_ms > 0 then
  function delay() return delay_ms end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
