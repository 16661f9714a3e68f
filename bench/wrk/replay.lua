-- Replays pre-rendered HTTP/1.1 requests (bench/requests.py) round-robin, and prints
-- one JSON line with the numbers bench/run.py reads.
--
--   wrk -t2 -c16 -d10s -s bench/wrk/replay.lua http://127.0.0.1:8100 -- /tmp/requests.bin
--
-- The file holds raw requests separated by a NUL byte: POST bodies (a concern with its
-- pupils and indicators, a sign-in form), bearer tokens and If-None-Match headers are all
-- in it, so this one script serves every endpoint and never formats anything per request.
-- No Idempotency-Key is sent: every create is a new concern.

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("offset", counter)
   table.insert(threads, thread)
end

function init(args)
   local path = args[1]
   if path == nil then
      error("replay.lua needs the requests file: wrk ... -s replay.lua URL -- FILE")
   end
   local file = assert(io.open(path, "rb"))
   local data = file:read("*a")
   file:close()
   messages = {}
   local position = 1
   while position <= #data do
      local stop = string.find(data, "\0", position, true)
      if stop == nil then
         stop = #data + 1
      end
      if stop > position then
         table.insert(messages, string.sub(data, position, stop - 1))
      end
      position = stop + 1
   end
   if #messages == 0 then
      error("no requests in " .. path)
   end
   -- Threads start at different places so that they do not send the same body in step.
   index = (offset * 7919) % #messages
end

function request()
   index = index + 1
   if index > #messages then
      index = 1
   end
   return messages[index]
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      '{"requests":%d,"duration_s":%.6f,"rps":%.3f,' ..
      '"latency_ms":{"p50":%.3f,"p90":%.3f,"p99":%.3f,"max":%.3f,"mean":%.3f},' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d}}\n',
      summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
      errors.connect, errors.read, errors.write, errors.timeout, errors.status))
end
