-- bench/spread.lua in "seq" mode, ending wrk once every thread has walked its entries
-- (wrk itself would wait out its -d duration).
dofile("bench/spread.lua")
local finished = false
function response()
  if not finished and done_walking() then
    finished = true
    finish_thread(wrk.thread, spread_marker())
  end
end
