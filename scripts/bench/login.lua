-- POST /auth/login, taking the users login1 … loginN (BENCH_LOGIN_USERS, password
-- BENCH_LOGIN_PASSWORD) in turn, so concurrent logins do not queue on one user's throttle.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local users = tonumber(os.getenv("BENCH_LOGIN_USERS") or "8")
local password = os.getenv("BENCH_LOGIN_PASSWORD") or ""
local headers = { ["Content-Type"] = "application/json" }
local n = math.random(users) - 1

function request()
    n = n % users + 1
    local body = string.format('{"username":"login%d","password":"%s"}', n, password)
    return wrk.format("POST", "/auth/login", headers, body)
end
