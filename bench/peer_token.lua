-- wrk: the Express peer's stateless rotation, POST /token with PEER_REFRESH (it never revokes).
dofile(os.getenv("BENCH_DIR") .. "/status.lua")
function request()
  return wrk.format("POST", "/token", { ["Content-Type"] = "application/json" },
    '{"refreshToken":"' .. os.getenv("PEER_REFRESH") .. '"}')
end
function response(status, headers, body) count(status) end
