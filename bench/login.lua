-- wrk: JSON sign-ins round robin over USERS accounts named login0, login1, … (the same password).
dofile(os.getenv("BENCH_DIR") .. "/status.lua")
local users, i = tonumber(os.getenv("USERS") or "8"), 0

function init(args) i = id end

function request()
  i = i % users + 1
  return wrk.format("POST", "/auth/login", { ["Content-Type"] = "application/json" },
    '{"username":"login' .. (i - 1) .. '","password":"a bench passphrase 42"}')
end

function response(status, headers, body) count(status) end
