-- GET with the bench user's bearer token (BENCH_TOKEN, empty: none). BENCH_PATHS, when set,
-- is a space-separated list of paths taken in turn (GET /notes/{id} over several notes);
-- otherwise the URL's own path is requested.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local token = os.getenv("BENCH_TOKEN") or ""
local headers = {}
if token ~= "" then headers["Authorization"] = "Bearer " .. token end
local paths = {}
for path in string.gmatch(os.getenv("BENCH_PATHS") or "", "%S+") do table.insert(paths, path) end
local next_path = 0

if #paths == 0 then
    wrk.headers = headers
else
    function request()
        next_path = next_path % #paths + 1
        return wrk.format("GET", paths[next_path], headers)
    end
end
