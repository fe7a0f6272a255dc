-- wrk script of bench.http_load: each request takes the next path of a file (threads
-- interleave, so no path is sent twice until the file is used up) and carries the API
-- key; done() prints the figures as one JSON line.
--   wrk ... -s bench/wrk.lua URL -- METHOD PATHS_FILE KEY THREADS

local threads_started = 0
local paths = {}
local index, step, method

function setup(thread)
  thread:set("thread_index", threads_started)
  threads_started = threads_started + 1
end

function init(args)
  method = args[1]
  for line in io.lines(args[2]) do
    paths[#paths + 1] = line
  end
  if args[3] ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. args[3]
  end
  index = thread_index
  step = tonumber(args[4])
end

function request()
  local path = paths[(index % #paths) + 1]
  index = index + step
  return wrk.format(method, path)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d,'
      .. ' "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean
  ))
end
