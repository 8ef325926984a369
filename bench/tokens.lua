-- wrk script: every request carries the next token of TOKENS (one per line), round robin, so
-- that no per-session cache can absorb the load.
local tokens = {}
local i = 0

function init(args)
  for line in io.lines(os.getenv("TOKENS")) do
    tokens[#tokens + 1] = line
  end
  i = math.random(#tokens)
end

function request()
  i = i % #tokens + 1
  return wrk.format("GET", "/api/me", { ["Authorization"] = "Bearer " .. tokens[i] })
end
