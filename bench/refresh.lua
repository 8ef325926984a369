-- wrk: refresh rotations over independent chains. TOKENS holds one refresh token per line
-- (one per session); each thread takes its share. A request spends one token and its answer's
-- successor joins the queue again, so every chain rotates in order and no token is replayed.
dofile(os.getenv("BENCH_DIR") .. "/status.lua")
local queue, head, tail = {}, 1, 0

function init(args)
  local threads, n = tonumber(os.getenv("THREADS") or "2"), 0
  for line in io.lines(os.getenv("TOKENS")) do
    if n % threads == id - 1 then tail = tail + 1; queue[tail] = line end
    n = n + 1
  end
end

function request()
  if head > tail then return wrk.format("GET", "/healthz") end -- every chain in flight or lost
  local token = queue[head]
  queue[head] = nil
  head = head + 1
  return wrk.format("POST", "/auth/refresh", { ["Content-Type"] = "application/json" },
    '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  count(status)
  if status == 200 then
    local successor = body:match('"refresh_token":"([^"]+)"')
    if successor then tail = tail + 1; queue[tail] = successor end
  end
end
