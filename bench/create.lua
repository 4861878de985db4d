-- Starts reports through the gateway and appends each returned (owner-bound) id to
-- DIR/ids.<thread>; each thread stops after SHARE answers, the last one ends wrk.
-- Args: DIR SHARE THREADS.
dofile("bench/spread.lua")
local file, share, seen, dir
function init(args)
  dir = args[1]
  file = io.open(dir .. "/ids." .. tid, "w")
  share, seen, threads = tonumber(args[2]), 0, tonumber(args[3])
  wrk.method = "POST"
  wrk.body = '{"type":"SEARCH_EXPORT","arguments":{"query":"*"}}'
  wrk.headers["Content-Type"] = "application/json"
end
request = nil
function response(status, headers, body)
  local id = body:match('"id":"([^"]+)"')
  if status == 202 and id and seen < share then
    file:write(id, "\n")
    seen = seen + 1
    if seen == share then
      file:close()
      finish_thread(wrk.thread, dir .. "/created.")
    end
  end
end
