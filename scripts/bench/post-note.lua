-- POST /notes as the writer user (BENCH_TOKEN): a small note, never containing the search
-- word of the search scenario, so the searched index does not grow with this scenario.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.method = "POST"
wrk.path = "/notes"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title":"written by wrk","body":"a short body of a few words, as a note often is","tags":["bench","write"]}'
