-- A fresh (unknown) report id per request: defeats caching and coalescing, so every
-- request is a real pass-through to the upstream.
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
local prefix = wrk.path
request = function()
  local id = string.format("%08x%08x%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff),
                           math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
  return wrk.format(nil, prefix .. id .. "/result")
end
