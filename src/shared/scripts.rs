//! The server-side scripts: each runs atomically in Redis, on Redis' clock (`TIME`), so
//! replicas with skewed clocks still agree on the pace.
use redis::Script;
use std::sync::LazyLock;

/// Every script starts from Redis' clock in microseconds and its pace (ARGV 1 and 2).
fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}{body}"))
}

const PRELUDE: &str = "
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
";

/// One grant decision of the shared upstream budget.
///
/// Pacing is GCRA over one theoretical arrival time (`tat`) for the whole API client, plus
/// the pause an upstream 429 imposes. The order across teams is start-time fair queuing on
/// shared virtual times: every team has a virtual time `vt` that grows by `1/weight` per
/// permit; the next permit goes to the active team with the smallest `vt`, wherever it
/// waits. A replica passes the teams it holds waiters for (its heartbeat, which makes them
/// "active" for `active_us`); the script grants to the smallest of them only if no team
/// active on another replica is due before it, else it answers "fair" and that replica asks
/// again shortly. A team that (re)joins starts at the current virtual clock: no credit for
/// idling. A replica that stops holding a team drops its heartbeat in the same call.
///
/// The pace is the whole budget's only while every replica is heard: each call is also the
/// replica's heartbeat (with its `fallback_share`), and the pace runs at the sum of the
/// shares of the replicas heard within `active_us` (at most 1). A replica cut off from
/// Redis spends its fallback share on its own; the others then share only theirs, so the
/// sum never exceeds the budget, whichever replicas are in or out (the replica that lost
/// Redis waits until Redis has stopped counting it, see `budget.rs`).
///
/// KEYS: budget hash (tat, vclock, pause), virtual times hash, team heartbeats hash, replica
/// heartbeats hash. ARGV: interval_us (whole budget), tolerance_us, active_us, pause_us (0:
/// none), replica id, replica share, then team, weight pairs. Returns {granted team or "",
/// wait_us, reason}.
pub static BUDGET: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local active = tonumber(ARGV[3])
local pause_req = tonumber(ARGV[4])
local replica = ARGV[5]
local share = tonumber(ARGV[6])
local plen = string.len(replica) + 1
local ttl = 3600000
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end

-- This replica's heartbeat, and the shares of every replica heard within `active`: only
-- those draw on Redis. One not heard may be spending its fallback share on its own.
redis.call('HSET', KEYS[4], replica, string.format('%d %s', now, ARGV[6]))
local heard = 0
local reps = redis.call('HGETALL', KEYS[4])
for i = 1, #reps, 2 do
  local at, s = string.match(reps[i + 1], '^(%d+) (.+)$')
  if at == nil or now - tonumber(at) > active then
    redis.call('HDEL', KEYS[4], reps[i])
  else
    heard = heard + tonumber(s)
  end
end
if heard > 1 then heard = 1 end
if heard < share then heard = share end
interval = math.floor(interval / heard)

local pause = tonumber(redis.call('HGET', KEYS[1], 'pause') or '0')
if pause_req > 0 and now + pause_req > pause then
  pause = now + pause_req
  redis.call('HSET', KEYS[1], 'pause', string.format('%d', pause))
end
local vclock = tonumber(redis.call('HGET', KEYS[1], 'vclock') or '0')

local mine = {}
for i = 7, #ARGV, 2 do
  local team = ARGV[i]
  mine[team] = true
  local field = replica .. ':' .. team
  local seen = tonumber(redis.call('HGET', KEYS[3], field) or '0')
  if now - seen > active then
    local vt = tonumber(redis.call('HGET', KEYS[2], team) or '0')
    if vt < vclock then redis.call('HSET', KEYS[2], team, tostring(vclock)) end
  end
  redis.call('HSET', KEYS[3], field, string.format('%d', now))
end

-- The smallest virtual time among teams waiting elsewhere, which replicas hold which team
-- (and tidy stale heartbeats with their turns).
local others = nil
local elsewhere = {}
local seen = redis.call('HGETALL', KEYS[3])
for i = 1, #seen, 2 do
  local field = seen[i]
  local is_mine = string.sub(field, 1, plen) == replica .. ':'
  local team = string.sub(field, plen + 1)
  if now - tonumber(seen[i + 1]) > active or (is_mine and not mine[team]) then
    redis.call('HDEL', KEYS[3], field)
    redis.call('HDEL', KEYS[2], 'turn:' .. field)
  elseif not is_mine then
    local v = tonumber(redis.call('HGET', KEYS[2], team) or '0')
    if others == nil or v < others then others = v end
    local other_team = string.match(field, '^[^:]*:(.*)$')
    elsewhere[other_team] = elsewhere[other_team] or {}
    table.insert(elsewhere[other_team], field)
  end
end

if #ARGV < 7 then return {'', 0, 'idle'} end
if pause > now then return {'', pause - now, 'pause'} end
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
if tat < now then tat = now end
if tat - tolerance > now then return {'', tat - tolerance - now, 'pace'} end

-- The smallest virtual time; ties go to the smallest name, so replicas holding the same
-- teams pick the same one. Picked in each replica's own order, two replicas could each
-- defer (below) to the other's older turn on a different tied team, forever.
local best, bestv, bestw = nil, 0, 1
for i = 7, #ARGV, 2 do
  local v = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '0')
  if best == nil or v < bestv - 1e-9 or (v <= bestv + 1e-9 and ARGV[i] < best) then
    best, bestv, bestw = ARGV[i], v, tonumber(ARGV[i + 1])
  end
end
if others ~= nil and others < bestv - 1e-9 then
  return {'', math.floor(interval / 4), 'fair'}
end
-- Between replicas holding the same team, the one that team's permits reached least recently
-- goes first: without this, whichever asks first wins every tie.
local my_turn = 'turn:' .. replica .. ':' .. best
local last = tonumber(redis.call('HGET', KEYS[2], my_turn) or '0')
for _, field in ipairs(elsewhere[best] or {}) do
  if tonumber(redis.call('HGET', KEYS[2], 'turn:' .. field) or '0') < last then
    return {'', math.floor(interval / 4), 'fair'}
  end
end
redis.call('HSET', KEYS[2], my_turn, string.format('%d', now))
redis.call('HSET', KEYS[1], 'tat', string.format('%d', tat + interval))
redis.call('HSET', KEYS[1], 'vclock', tostring(bestv))
redis.call('HSET', KEYS[2], best, tostring(bestv + 1 / bestw))
return {best, 0, 'grant'}
"#,
    )
});

/// One team's limit: GCRA on one key. Reserves the slot only when its wait is within the
/// caller's bound. ARGV: interval_us, tolerance_us, max_wait_us.
/// Returns {1 if reserved else 0, wait_us, ahead_us (tat - now after the decision)}.
pub static TEAM_LIMIT: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
if wait > max_wait then return {0, wait, tat - now} end
local new = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', math.floor((new - now) / 1000) + 1000)
return {1, wait, new - now}
"#,
    )
});
