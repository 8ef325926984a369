-- Shared by the wrk scripts: counts answers by class across threads, printed at the end as
-- `statuses 2xx=… 4xx=… 5xx=…` (wrk itself only counts "non-2xx or 3xx").
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("id", #threads)
end

counts = { ["2xx"] = 0, ["3xx"] = 0, ["4xx"] = 0, ["5xx"] = 0 }

function count(status)
  local class = tostring(math.floor(status / 100)) .. "xx"
  counts[class] = (counts[class] or 0) + 1
end

function done(summary, latency, requests)
  local total = { ["2xx"] = 0, ["3xx"] = 0, ["4xx"] = 0, ["5xx"] = 0 }
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for class, n in pairs(c) do total[class] = (total[class] or 0) + n end
  end
  io.write(string.format("statuses 2xx=%d 3xx=%d 4xx=%d 5xx=%d\n", total["2xx"], total["3xx"], total["4xx"], total["5xx"]))
end
