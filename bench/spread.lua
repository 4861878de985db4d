-- Requests spread over many paths and/or many caller tokens (one per line in the files
-- given as args; "-" for no tokens). MODE "random": a random path and token per request.
-- MODE "seq": thread t of T walks entries t, t+T, ... once (of the longer list) and stops,
-- which warms a cache with every entry (run it as bench/warm.lua). Args: PATHS TOKENS MODE THREADS.
local n = 0
function setup(thread)
  n = n + 1
  thread:set("tid", n)
end
local paths, tokens, seq, i, threads, last = {}, {}, false, 0, 1, 0
local function load(file, into)
  for line in io.lines(file) do
    if line ~= "" then into[#into + 1] = line end
  end
end
function init(args)
  paths_file = args[1]
  load(args[1], paths)
  if args[2] ~= "-" then load(args[2], tokens) end
  seq = args[3] == "seq"
  threads = tonumber(args[4] or "1")
  i = tid - 1
  last = math.max(#paths, #tokens)
  math.randomseed(os.time() + tid * 7919)
end
local function auth(k)
  if #tokens == 0 then return nil end
  return { Authorization = "Bearer " .. tokens[(k % #tokens) + 1] }
end
function request()
  if seq then
    local k = i
    i = i + threads
    return wrk.format(nil, paths[(k % #paths) + 1], auth(k))
  end
  local k = math.random(0, #tokens > 0 and #tokens - 1 or 0)
  return wrk.format(nil, paths[math.random(1, #paths)], auth(k))
end
-- Only the seq mode (bench/warm.lua) stops itself: a `response` function makes wrk parse
-- every body, which would cost the measured runs.
function done_walking()
  return seq and i >= last + threads
end

-- Marker files name the threads that are done; the last one ends wrk (os.exit), since
-- wrk's main thread otherwise sleeps for the whole -d duration.
function spread_marker()
  return paths_file .. ".done."
end
function finish_thread(thread, marker)
  io.open(marker .. tid, "w"):close()
  for t = 1, threads do
    local f = io.open(marker .. t)
    if not f then
      thread:stop()
      return
    end
    f:close()
  end
  os.exit(0)
end
