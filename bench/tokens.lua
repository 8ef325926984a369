-- wrk: GET /api/me, every request with the next token of TOKENS (one per line), round robin,
-- so that no per-session cache can absorb the load. Without TOKENS: no token (the 401).
dofile(os.getenv("BENCH_DIR") .. "/status.lua")
local tokens = {}
local i = 0

function init(args)
  local file = os.getenv("TOKENS")
  if file and file ~= "" then
    for line in io.lines(file) do tokens[#tokens + 1] = line end
    i = math.random(#tokens)
  end
end

function request()
  if #tokens == 0 then return wrk.format("GET", "/api/me") end
  i = i % #tokens + 1
  return wrk.format("GET", "/api/me", { ["Authorization"] = "Bearer " .. tokens[i] })
end

function response(status, headers, body) count(status) end
