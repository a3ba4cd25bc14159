package redis

import goredis "github.com/redis/go-redis/v9"

// The scripts. Each runs on one queue's keys (one hash tag, so one Cluster
// slot), passed in the order of keys.all:
//
//	KEYS[1] jobs  [2] wait:high [3] wait:normal [4] wait:low  [5] active
//	[6] delayed [7] completed [8] failed [9] cancelled [10] events
//	[11] stats [12] paused [13] cancelling [14] minutes [15] seq [16] wake
//
// Every state change of a job happens inside one script: its record, its
// index (a waiting list, the active lease set, the delayed set, a finished
// list), its counters, its event. A crash at any instant leaves each job
// in exactly one state.
//
// Waiting lists hold "<token>:<id>" (pushed left, popped right: FIFO);
// the token also sits in the record, so an element whose token is not the
// record's is stale and skipped. The active set holds "<token>:<id>"
// scored by the lease deadline; removing that member is what makes a
// settlement current (fencing). Finished lists hold "<ms>|<id>", newest
// left.
//
// Numbers read from records stay strings in the scripts: formatting a Lua
// number back to text costs a sprintf, and most transitions only copy them.

// prelude holds the helpers every script shares: the record header (see
// record.go), events, wake-ups and retention.
const prelude = `
local HDR = '^{"state":"(%a+)","priority":"(%a+)","attempt":(%d+),"stalls":(%d+),"progress":(%d+),"runAt":(%d+),"startedAt":(%d+),"finishedAt":(%d+),"token":(%d+),"error":()'
local function parse(rec)
  if not rec then return nil end
  local st, pr, at, sl, pg, ra, sa, fa, tk, ep = string.match(rec, HDR)
  if not st then return nil end
  local np = string.find(rec, ',"name":', ep, true)
  if not np then return nil end
  return {state = st, prio = pr, attempt = at, stalls = sl, progress = pg, runAt = ra,
    startedAt = sa, finishedAt = fa, token = tk, err = string.sub(rec, ep, np - 1), tail = string.sub(rec, np)}
end
local function build(h)
  return '{"state":"' .. h.state .. '","priority":"' .. h.prio .. '","attempt":' .. h.attempt ..
    ',"stalls":' .. h.stalls .. ',"progress":' .. h.progress .. ',"runAt":' .. h.runAt ..
    ',"startedAt":' .. h.startedAt .. ',"finishedAt":' .. h.finishedAt .. ',"token":' .. h.token ..
    ',"error":' .. h.err .. h.tail
end
local function jname(h)
  local e = string.find(h.tail, '","maxAttempts":', 10, true)
  if not e then return '' end
  return string.sub(h.tail, 10, e - 1)
end
local function maxAttempts(h) return tonumber(string.match(h.tail, '","maxAttempts":(%d+)')) or 1 end
local WAIT = {high = 2, normal = 3, low = 4}
local LIST = {completed = 7, failed = 8, cancelled = 9}
local function made(h)
  if h.state == 'waiting' or h.state == 'delayed' or (h.state == 'cancelled' and h.startedAt == '0') then
    return tostring(tonumber(h.attempt) - 1)
  end
  return h.attempt
end
local function inc(v) return tostring(tonumber(v) + 1) end
-- The delayed set's earliest due time (ms), or nil when it is empty.
local function earliest()
  return tonumber(redis.call('ZRANGE', KEYS[6], 0, 0, 'WITHSCORES')[2])
end
-- delay adds id to the delayed set, due at the ms time due (a string).
-- When that is earlier than every job there before, it publishes the due
-- time on base..'due': worker processes sleep until the earliest due time
-- they know of instead of polling (Backend.Run).
local function delay(id, due, base)
  local first = earliest()
  redis.call('ZADD', KEYS[6], due, id)
  if not first or tonumber(due) < first then redis.call('PUBLISH', base .. 'due', due) end
end
local function event(h, id, emax, now, prog)
  if prog then
    redis.call('XADD', KEYS[10], 'MAXLEN', '~', emax, '*', 'j', id, 's', h.state, 'a', made(h), 'n', jname(h), 't', now, 'p', prog)
  elseif h.err ~= 'null' and (h.state == 'failed' or h.state == 'delayed' or h.state == 'cancelled') then
    redis.call('XADD', KEYS[10], 'MAXLEN', '~', emax, '*', 'j', id, 's', h.state, 'a', made(h), 'n', jname(h), 't', now, 'e', h.err)
  else
    redis.call('XADD', KEYS[10], 'MAXLEN', '~', emax, '*', 'j', id, 's', h.state, 'a', made(h), 'n', jname(h), 't', now)
  end
end
-- Groups: a grouped job waits in g:<group>; the ring (a list rotated at
-- each turn, with ring:set for membership) holds the groups that have
-- waiting jobs, plus '*' for the ungrouped normal jobs while any group
-- does; gactive, gheld and grate are per-group running counts, RateLimited
-- holds and limit slots. A member that joins the ring goes ahead of the
-- members that have had a turn, behind those that joined before it and
-- have not: ring:fresh counts those at the ring's head.
local function jgroup(h) return string.match(h.tail, ',"group":"([%w_.:%-]+)"') end
local function join(base, m)
  if redis.call('SADD', base .. 'ring:set', m) == 0 then return end
  local ring = base .. 'ring'
  local f = tonumber(redis.call('GET', ring .. ':fresh') or '0')
  local pivot = f > 0 and redis.call('LINDEX', ring, f)
  if f == 0 then
    redis.call('LPUSH', ring, m)
  elseif pivot then
    redis.call('LINSERT', ring, 'BEFORE', pivot, m)
  else
    redis.call('RPUSH', ring, m)
  end
  redis.call('SET', ring .. ':fresh', f + 1)
end
local function quit(base, m)
  redis.call('SREM', base .. 'ring:set', m)
  redis.call('LREM', base .. 'ring', 0, m)
end
local function enlist(base, prio, group, el)
  if group then
    redis.call('LPUSH', base .. 'g:' .. group, el)
    redis.call('HINCRBY', KEYS[11], 'grouped', 1)
    join(base, group)
    if redis.call('LLEN', KEYS[3]) > 0 then join(base, '*') end
  else
    local li = WAIT[prio] or 3
    redis.call('LPUSH', KEYS[li], el)
    if li == 3 and redis.call('LLEN', base .. 'ring') > 0 then join(base, '*') end
  end
end
-- push makes h waiting: a fresh token, the element at the left of its list,
-- and a wake-up for an idle worker.
local function push(h, id, base)
  h.state = 'waiting'
  h.token = tostring(redis.call('INCR', KEYS[15]))
  enlist(base, h.prio, jgroup(h), h.token .. ':' .. id)
  if redis.call('LLEN', KEYS[16]) == 0 then redis.call('LPUSH', KEYS[16], '1') end
end
-- unwait takes a waiting job's element out of its list.
local function unwait(h, id, base)
  local g = jgroup(h)
  if g then
    if redis.call('LREM', base .. 'g:' .. g, 1, h.token .. ':' .. id) == 1 then
      redis.call('HINCRBY', KEYS[11], 'grouped', -1)
    end
  else
    redis.call('LREM', KEYS[WAIT[h.prio] or 3], 1, h.token .. ':' .. id)
  end
end
-- release ends an active grouped job's hold on its group.
local function release(h, base)
  local g = jgroup(h)
  if g and redis.call('HINCRBY', base .. 'gactive', g, -1) <= 0 then
    redis.call('HDEL', base .. 'gactive', g)
    if redis.call('LLEN', KEYS[16]) == 0 then redis.call('LPUSH', KEYS[16], '1') end
  end
end
-- retain trims a finished list to keep, deleting the dropped jobs'
-- records and logs; returns how many it dropped. len is the list's
-- length when the caller knows it.
local function retain(key, keep, base, len)
  local n = (len or redis.call('LLEN', key)) - keep
  if n <= 0 then return 0 end
  local old = redis.call('RPOP', key, n)
  local ids, logs = {}, {}
  for i = 1, #old do
    local id = string.match(old[i], '|(.*)$')
    ids[#ids + 1] = id
    logs[#logs + 1] = base .. 'logs:' .. id
  end
  for i = 1, #ids, 1000 do
    redis.call('HDEL', KEYS[1], unpack(ids, i, math.min(i + 999, #ids)))
    redis.call('DEL', unpack(logs, i, math.min(i + 999, #logs)))
  end
  return n
end
-- activate rewrites a waiting record whose token is tk as started at now,
-- with plain searches instead of parse and build (the claim's largest
-- cost). It returns the record, its attempt and name, or nothing when rec
-- is not such a record in the shape encodeRecord writes (then the caller
-- parses it). The header holds only numbers and letters up to "error",
-- so each key's first occurrence is the header's.
local function activate(rec, tk, now)
  if string.sub(rec, 1, 19) ~= '{"state":"waiting",' then return end
  local pa = string.find(rec, ',"attempt":', 20, true)
  local ps = pa and string.find(rec, ',"stalls":', pa, true)
  local pp = ps and string.find(rec, ',"progress":', ps, true)
  local pr = pp and string.find(rec, ',"runAt":', pp, true)
  local pb = pr and string.find(rec, ',"startedAt":', pr, true)
  local pf = pb and string.find(rec, ',"finishedAt":', pb, true)
  local pt = pf and string.find(rec, ',"token":', pf, true)
  if not pt or string.sub(rec, pt + 9, pt + 17 + #tk) ~= tk .. ',"error":' then return end
  local pn = string.find(rec, ',"name":"', pt, true)
  local pm = pn and string.find(rec, '","maxAttempts":', pn, true)
  if not pm then return end
  return '{"state":"active",' .. string.sub(rec, 20, pp + 11) .. '0' .. string.sub(rec, pr, pb + 12) .. now ..
    string.sub(rec, pf), string.sub(rec, pa + 11, ps - 1), string.sub(rec, pn + 9, pm - 1)
end
local function finish(h, id, state, now)
  h.state, h.finishedAt, h.token = state, now, '0'
  redis.call('LPUSH', KEYS[LIST[state]], now .. '|' .. id)
end
`

// enqueue: ARGV base, now, emax, dedup-ttl-ms, then per job: id, due-ms
// (0 = now), unique (0|1), name (JSON-escaped), record head, record tail
// (the record cut where its token goes). Returns 1 per job added, 0 per
// job skipped (a unique id remembered, or an id the queue holds).
// Per job it runs HSETNX and XADD; the waiting-list pushes, delayed-set
// adds and the token counter are one call each for the whole batch.
var enqueueScript = goredis.NewScript(prelude + `
local base, now, emax, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local nowN = tonumber(now)
local n = (#ARGV - 4) / 6
-- The batch's tokens in one step (a skipped job leaves a gap).
local tk0 = redis.call('INCRBY', KEYS[15], n) - n
local out, lists, delayed = {}, {}, {}
local woke = false
local i = 5
for k = 1, n do
  local id, due, uniq, name, head, tail = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  i = i + 6
  local ok = 1
  if uniq == '1' and not redis.call('SET', base .. 'dedup:' .. id, '1', 'NX', 'PX', ttl) then ok = 0 end
  if ok == 1 then
    local state = 'waiting'
    if due > nowN then
      state = 'delayed'
      ok = redis.call('HSETNX', KEYS[1], id, head .. '0' .. tail)
      if ok == 1 then delayed[#delayed + 1] = due; delayed[#delayed + 1] = id end
    else
      local tk = tostring(tk0 + k)
      ok = redis.call('HSETNX', KEYS[1], id, head .. tk .. tail)
      if ok == 1 then
        local g = string.match(tail, ',"group":"([%w_.:%-]+)"')
        woke = true
        if g then
          enlist(base, nil, g, tk .. ':' .. id)
        else
          local li = WAIT[string.match(head, '"priority":"(%a+)"')] or 3
          lists[li] = lists[li] or {}
          lists[li][#lists[li] + 1] = tk .. ':' .. id
        end
      end
    end
    if ok == 1 then
      redis.call('XADD', KEYS[10], 'MAXLEN', '~', emax, '*', 'j', id, 's', state, 'a', '0', 'n', name, 't', now)
    end
  end
  out[#out + 1] = ok
end
for li = 2, 4 do
  local l = lists[li]
  if l then
    for c = 1, #l, 1000 do redis.call('LPUSH', KEYS[li], unpack(l, c, math.min(c + 999, #l))) end
    if li == 3 and redis.call('LLEN', base .. 'ring') > 0 then join(base, '*') end
  end
end
if #delayed > 0 then
  local first, soonest = earliest(), delayed[1]
  for c = 3, #delayed, 2 do soonest = math.min(soonest, delayed[c]) end
  for c = 1, #delayed, 1000 do redis.call('ZADD', KEYS[6], unpack(delayed, c, math.min(c + 999, #delayed))) end
  if not first or soonest < first then redis.call('PUBLISH', base .. 'due', string.format('%d', soonest)) end
end
if woke and redis.call('LLEN', KEYS[16]) == 0 then redis.call('LPUSH', KEYS[16], '1') end
return out`)

// fetch: ARGV base, now, emax, lease-deadline-ms, want, keep-completed,
// keep-failed, limit-max, limit-per-ms (0 0: no limit), settlement count,
// group concurrency (0: none), group-limit-max, group-limit-per-ms, then
// per settlement: kind, id, token, error (JSON or ""), record (the
// settled record as the worker built it, token 0; for an entry that was
// not a readable job, the record to write in its place), group, attempts
// made, name (JSON-escaped): a completed job is written without being
// read back. Settles, then claims up to want jobs, highest priority
// first, within the queue's limit (starts spaced limit-per/limit-max apart
// with a burst of a tenth of limit-max: the generic cell rate algorithm,
// its next slot in key rate, see queue.Limit), and no start at all while a
// handler's RateLimited holds the queue (key held). Returns {dropped,
// paused, held-until-ms (0: not held; set with claims when the limit cut
// them short), then per claim: token, id ("" for an element that is not a
// job), record (or the raw element)}.
var fetchScript = goredis.NewScript(prelude + fetchSrc)

const fetchSrc = `
local base, now, emax, lease = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local want, keepC, keepF = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local lmax, lper, ns = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local nowN = tonumber(now)
local minute = math.floor(nowN / 60000)
local dropped = 0
local cancelling = ns > 0 and redis.call('SCARD', KEYS[13]) > 0
local fin = {completed = 0, failed = 0, cancelled = 0}
-- Fencing: a settlement is current while its lease is in the active set.
-- All leases are looked up and removed in two calls, not one per job.
local current = {}
do
  local leases, at = {}, {}
  for n = 0, ns - 1 do
    local tk = ARGV[16 + 8 * n]
    if tk ~= '' then
      leases[#leases + 1] = tk .. ':' .. ARGV[15 + 8 * n]
      at[#leases] = n
    end
  end
  if #leases <= 2 then
    for k = 1, #leases do
      if redis.call('ZREM', KEYS[5], leases[k]) == 1 then current[at[k]] = true end
    end
    leases = {}
  end
  for c = 1, #leases, 1000 do
    local e = math.min(c + 999, #leases)
    local sc = redis.call('ZMSCORE', KEYS[5], unpack(leases, c, e))
    local gone = {}
    for k = c, e do
      if sc[k - c + 1] and not current[leases[k]] then
        current[leases[k]] = true
        current[at[k]] = true
        gone[#gone + 1] = leases[k]
      end
    end
    if #gone > 0 then redis.call('ZREM', KEYS[5], unpack(gone)) end
  end
end
-- Completed records and their list elements, written together below.
local recs, done = {}, {}
local i = 14
for n = 0, ns - 1 do
  local kind, id, tk, err, rec = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local group, made, name = ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
  i = i + 8
  -- A raw element (not a job) was popped without a lease: settled once.
  if tk == '' or current[n] then
    local forced = cancelling and redis.call('SREM', KEYS[13], id) == 1
    if kind == 'completed' and tk ~= '' then
      -- The hot path: the worker built the record; nothing to read back.
      if group ~= '' and redis.call('HINCRBY', base .. 'gactive', group, -1) <= 0 then
        redis.call('HDEL', base .. 'gactive', group)
        if redis.call('LLEN', KEYS[16]) == 0 then redis.call('LPUSH', KEYS[16], '1') end
      end
      recs[#recs + 1] = id
      recs[#recs + 1] = rec
      done[#done + 1] = now .. '|' .. id
      fin.completed = fin.completed + 1
      redis.call('XADD', KEYS[10], 'MAXLEN', '~', emax, '*', 'j', id, 's', 'completed', 'a', made, 'n', name, 't', now)
      kind = nil
    end
    if kind and forced and kind ~= 'cancelled' then
      local h = parse(rec)
      if h then
        h.state = 'cancelled'
        if err ~= '' then h.err = err end
        rec, kind = build(h), 'cancelled'
      end
    end
    local h = kind and parse(rec)
    if h then
      release(h, base)
      if kind == 'retry' then
        delay(id, h.runAt, base)
        redis.call('HINCRBY', KEYS[11], 'retried', 1)
      elseif kind == 'postponed' then
        delay(id, h.runAt, base)
        local g = jgroup(h)
        if g then
          if tonumber(h.runAt) > tonumber(redis.call('HGET', base .. 'gheld', g) or '0') then
            redis.call('HSET', base .. 'gheld', g, h.runAt)
          end
        else
          local held = tonumber(redis.call('GET', base .. 'held') or '0')
          if tonumber(h.runAt) > held then
            redis.call('SET', base .. 'held', h.runAt, 'PX', math.max(tonumber(h.runAt) - nowN, 1))
          end
        end
      elseif kind == 'released' then
        push(h, id, base)
      else
        finish(h, id, h.state, now)
        fin[h.state] = fin[h.state] + 1
      end
      redis.call('HSET', KEYS[1], id, build(h))
      event(h, id, emax, now)
    end
  end
end
local clen
for c = 1, #done, 500 do
  redis.call('HSET', KEYS[1], unpack(recs, 2 * c - 1, 2 * math.min(c + 499, #done)))
  clen = redis.call('LPUSH', KEYS[7], unpack(done, c, math.min(c + 499, #done)))
end
if fin.completed > 0 then
  redis.call('HINCRBY', KEYS[11], 'completed', fin.completed)
  redis.call('HINCRBY', KEYS[14], minute .. ':c', fin.completed)
  retain(KEYS[7], keepC, base, fin.completed == #done and clen or nil)
end
if fin.failed > 0 then
  redis.call('HINCRBY', KEYS[11], 'failed', fin.failed)
  redis.call('HINCRBY', KEYS[14], minute .. ':f', fin.failed)
  dropped = retain(KEYS[8], keepF, base)
end
if fin.cancelled > 0 then retain(KEYS[9], keepC, base) end
local out = {dropped, 0, 0}
if want <= 0 then return out end
local ph = redis.call('MGET', KEYS[12], base .. 'held')
if ph[1] then out[2] = 1; return out end
local held = tonumber(ph[2] or '0')
if held > nowN then out[3] = held; return out end
local rkey, step, tat, tol
local asked = want
if lmax > 0 then
  rkey = base .. 'rate'
  step = lper / lmax
  tol = step * (math.max(math.floor(lmax / 10), 1) - 1)
  tat = math.max(tonumber(redis.call('GET', rkey) or '0'), nowN)
  local n = math.floor((nowN + tol - tat) / step) + 1
  if n <= 0 then out[3] = tostring(math.ceil(tat - tol)); return out end
  want = math.min(want, n)
end
local need = want
-- Claimed records and leases, written together (see flush); claimed
-- guards against an element met twice before its record is written.
local recs, leases, claimed = {}, {}, {}
local function flush()
  if #recs > 0 then redis.call('HSET', KEYS[1], unpack(recs)); recs = {} end
  if #leases > 0 then redis.call('ZADD', KEYS[5], unpack(leases)); leases = {} end
end
-- take claims one popped element whose record (false: none) was read:
-- false when the element was stale.
local function take(el, rec)
  local tk, id = string.match(el, '^(%d+):(.*)$')
  if not tk then
    out[#out + 1] = ''; out[#out + 1] = ''; out[#out + 1] = el
    return true
  end
  if claimed[id] then return false end
  local new, made, name
  if rec then new, made, name = activate(rec, tk, now) end
  local h = not new and parse(rec)
  if new then
    rec = new
  elseif h and h.state == 'waiting' and h.token == tk then
    h.state, h.startedAt, h.progress = 'active', now, '0'
    rec, made, name = build(h), h.attempt, jname(h)
  elseif not rec or h then
    return false
  end
  if made then
    recs[#recs + 1] = id
    recs[#recs + 1] = rec
  end
  claimed[id] = true
  leases[#leases + 1] = lease
  leases[#leases + 1] = el
  if made then
    redis.call('XADD', KEYS[10], 'MAXLEN', '~', emax, '*', 'j', id, 's', 'active', 'a', made, 'n', name, 't', now)
  end
  out[#out + 1] = tk; out[#out + 1] = id; out[#out + 1] = rec
  if #recs >= 1000 or #leases >= 1000 then flush() end
  return true
end
local function claim(el)
  local id = string.match(el, '^%d+:(.*)$')
  return take(el, id and redis.call('HGET', KEYS[1], id))
end
-- drain claims from one list, reading the popped elements' records in
-- one call.
local function drain(key)
  while need > 0 do
    local els = redis.call('RPOP', key, math.min(need, 500))
    if not els then return end
    local ids = {}
    for k, el in ipairs(els) do ids[k] = string.match(el, '^%d+:(.*)$') or '' end
    local rs = redis.call('HMGET', KEYS[1], unpack(ids))
    for k, el in ipairs(els) do
      if take(el, rs[k]) then need = need - 1 end
    end
  end
end
drain(KEYS[2])
local ring = base .. 'ring'
local rlen = need > 0 and redis.call('LLEN', ring) or 0
if rlen == 0 then
  drain(KEYS[3])
else
  -- Round-robin: one job per member per pass, while passes make progress.
  local gconc = tonumber(ARGV[11])
  local glmax, glper = tonumber(ARGV[12]), tonumber(ARGV[13])
  local gstep = glmax > 0 and glper / glmax or 0
  local gtol = glmax > 0 and gstep * (math.max(math.floor(glmax / 10), 1) - 1) or 0
  local progress = true
  local fresh = tonumber(redis.call('GET', ring .. ':fresh') or '0')
  local fresh0 = fresh
  while need > 0 and progress and rlen > 0 do
    progress = false
    for _ = 1, rlen do
      if need == 0 then break end
      local m = redis.call('LMOVE', ring, ring, 'LEFT', 'RIGHT')
      if not m then break end
      if fresh > 0 then fresh = fresh - 1 end
      if m == '*' then
        local took = false
        while not took do
          local el = redis.call('RPOP', KEYS[3])
          if not el then quit(base, '*'); break end
          took = claim(el)
        end
        if took then need, progress = need - 1, true end
      else
        local gkey = base .. 'g:' .. m
        local ok = true
        local held = tonumber(redis.call('HGET', base .. 'gheld', m) or '0')
        if held > nowN then
          ok = false
          if out[3] == 0 or held < tonumber(out[3]) then out[3] = tostring(held) end
        elseif held > 0 then
          redis.call('HDEL', base .. 'gheld', m)
        end
        if ok and gconc > 0 and tonumber(redis.call('HGET', base .. 'gactive', m) or '0') >= gconc then
          ok = false -- a settlement frees it and wakes a worker
        end
        local gtat
        if ok and glmax > 0 then
          gtat = math.max(tonumber(redis.call('HGET', base .. 'grate', m) or '0'), nowN)
          if gtat - nowN > gtol then
            ok = false
            local at = math.ceil(gtat - gtol)
            if out[3] == 0 or at < tonumber(out[3]) then out[3] = tostring(at) end
          end
        end
        if ok then
          local took = false
          while not took do
            local el = redis.call('RPOP', gkey)
            if not el then quit(base, m); break end
            redis.call('HINCRBY', KEYS[11], 'grouped', -1)
            took = claim(el)
          end
          if took then
            need, progress = need - 1, true
            redis.call('HINCRBY', base .. 'gactive', m, 1)
            if gtat then redis.call('HSET', base .. 'grate', m, string.format('%.3f', gtat + gstep)) end
          end
        end
      end
    end
    rlen = redis.call('LLEN', ring)
  end
  if fresh ~= fresh0 then
    if fresh > 0 then redis.call('SET', ring .. ':fresh', fresh) else redis.call('DEL', ring .. ':fresh') end
  end
  if rlen == 0 then drain(KEYS[3]) end
end
drain(KEYS[4])
flush()
if rkey and want > need then
  tat = tat + (want - need) * step
  redis.call('SET', rkey, string.format('%.3f', tat), 'PX', math.ceil(lper * 2))
  if need == 0 and want < asked then
    out[3] = tostring(math.ceil(tat - tol)) -- the limit cut this claim: when the next may start
  end
end
if need == 0 and redis.call('LLEN', KEYS[16]) == 0 then
  redis.call('LPUSH', KEYS[16], '1') -- more may be waiting: wake the next idle worker
end
return out`

// promote: ARGV now, emax, limit, base. Moves due delayed jobs to waiting;
// returns {moved, the earliest due time left (ms) or -1}.
var promoteScript = goredis.NewScript(prelude + `
local base = ARGV[4]
local ids = redis.call('ZRANGE', KEYS[6], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[3])
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[6], id)
  local rec = redis.call('HGET', KEYS[1], id)
  local h = parse(rec)
  if h and h.state == 'delayed' then
    push(h, id, base)
    redis.call('HSET', KEYS[1], id, build(h))
    event(h, id, ARGV[2], ARGV[1])
  elseif rec and not h then
    redis.call('LPUSH', KEYS[3], '0:' .. id) -- a worker dead-letters it
  end
end
return {#ids, earliest() or -1}`)

// reclaim: ARGV base, now, emax, max-stalled, keep-completed, keep-failed,
// count. Takes back deliveries whose lease ran out (their worker stopped
// heartbeating): each counts as a stall and an attempt; back to waiting,
// or failed with "stalled" past max-stalled or the last attempt. Returns
// {taken back, dropped}.
var reclaimScript = goredis.NewScript(prelude + `
local base, now, emax = ARGV[1], ARGV[2], ARGV[3]
local maxStalled, keepC, keepF = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local els = redis.call('ZRANGE', KEYS[5], '-inf', now, 'BYSCORE', 'LIMIT', 0, ARGV[7])
local minute = math.floor(tonumber(now) / 60000)
local dropped = 0
for _, el in ipairs(els) do
  redis.call('ZREM', KEYS[5], el)
  local tk, id = string.match(el, '^(%d+):(.*)$')
  local rec = id and redis.call('HGET', KEYS[1], id)
  local h = parse(rec)
  if h and h.state == 'active' and h.token == tk then
    h.stalls = inc(h.stalls)
    local kind
    if redis.call('SREM', KEYS[13], id) == 1 then
      finish(h, id, 'cancelled', now)
      kind = 'cancelled'
    elseif tonumber(h.stalls) > maxStalled or tonumber(h.attempt) >= maxAttempts(h) then
      h.err = '"stalled"'
      finish(h, id, 'failed', now)
      redis.call('HINCRBY', KEYS[11], 'failed', 1)
      redis.call('HINCRBY', KEYS[14], minute .. ':f', 1)
      kind = 'dead'
    else
      h.attempt, h.startedAt, h.runAt = inc(h.attempt), '0', now
      push(h, id, base)
    end
    redis.call('HINCRBY', KEYS[11], 'stalled', 1)
    redis.call('HSET', KEYS[1], id, build(h))
    event(h, id, emax, now)
    if kind == 'dead' then dropped = dropped + retain(KEYS[8], keepF, base)
    elseif kind == 'cancelled' then retain(KEYS[9], keepC, base) end
  elseif rec and not h then
    redis.call('LPUSH', KEYS[3], '0:' .. id) -- a worker dead-letters it
  elseif not tk then
    redis.call('LPUSH', KEYS[3], el)
  end
end
return {#els, dropped}`)

// heartbeat: ARGV lease-deadline-ms, then "<token>:<id>" members. Extends
// the leases that are still current and returns the ids among them whose
// cancellation was requested.
var heartbeatScript = goredis.NewScript(`
local out = {}
for i = 2, #ARGV do
  if redis.call('ZADD', KEYS[5], 'XX', 'CH', ARGV[1], ARGV[i]) == 1 then
    local id = string.match(ARGV[i], '^%d+:(.*)$')
    if id and redis.call('SISMEMBER', KEYS[13], id) == 1 then out[#out + 1] = id end
  end
end
return out`)

// act: ARGV base, now, emax, keep-completed, action, ids... Applies an
// admin action per id; returns per id 0 done, 1 not found, 2 the state
// does not allow it, 3 cancel requested (active), 4 not retryable
// (undecodable), followed by the job's state when 2.
var actScript = goredis.NewScript(prelude + `
local base, now, emax, keepC, a = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local out = {}
local function unindex(h, id)
  if h.state == 'waiting' then
    unwait(h, id, base)
  elseif h.state == 'delayed' then
    redis.call('ZREM', KEYS[6], id)
  elseif LIST[h.state] then
    redis.call('LREM', KEYS[LIST[h.state]], 1, h.finishedAt .. '|' .. id)
  end
end
for i = 6, #ARGV do
  local id = ARGV[i]
  local rec = redis.call('HGET', KEYS[1], id)
  local h = parse(rec)
  local code, st = 0, ''
  if not rec then
    code = 1
  elseif not h then
    if a == 'remove' then
      redis.call('HDEL', KEYS[1], id)
      redis.call('DEL', base .. 'logs:' .. id)
    else
      code, st = 2, 'unreadable'
    end
  elseif a == 'remove' then
    if h.state == 'active' then
      code, st = 2, h.state
    else
      unindex(h, id)
      redis.call('HDEL', KEYS[1], id)
      redis.call('DEL', base .. 'logs:' .. id)
    end
  elseif a == 'cancel' and h.state == 'active' then
    redis.call('SADD', KEYS[13], id)
    redis.call('PUBLISH', base .. 'cancel', id)
    code = 3
  else
    local ok
    if a == 'retry' then
      ok = h.state == 'failed' or h.state == 'cancelled'
      if ok and jname(h) == '(undecodable)' then code, ok = 4, false end
    elseif a == 'promote' then
      ok = h.state == 'delayed'
    elseif a == 'cancel' then
      ok = h.state == 'waiting' or h.state == 'delayed'
    else
      ok = false
    end
    if not ok then
      if code == 0 then code, st = 2, h.state end
    else
      unindex(h, id)
      if a == 'cancel' then
        finish(h, id, 'cancelled', now)
      else
        if a == 'retry' then
          h.attempt, h.stalls, h.progress, h.startedAt, h.finishedAt = '1', '0', '0', '0', '0'
        end
        h.runAt = now
        push(h, id, base)
      end
      redis.call('HSET', KEYS[1], id, build(h))
      event(h, id, emax, now)
      if a == 'cancel' then retain(KEYS[9], keepC, base) end
    end
  end
  out[#out + 1] = code
  out[#out + 1] = st
end
return out`)

// progress: ARGV now, emax, id, token, percent. Sets an active delivery's
// progress and records a progress event.
var progressScript = goredis.NewScript(prelude + `
local h = parse(redis.call('HGET', KEYS[1], ARGV[3]))
if not h or h.state ~= 'active' or h.token ~= ARGV[4] then return 0 end
h.progress = ARGV[5]
redis.call('HSET', KEYS[1], ARGV[3], build(h))
event(h, ARGV[3], ARGV[2], ARGV[1], ARGV[5])
return 1`)

// appendLog: ARGV base, id, token, line, max-lines. Appends a line to an
// active delivery's log, keeping the newest max-lines.
var logScript = goredis.NewScript(prelude + `
local h = parse(redis.call('HGET', KEYS[1], ARGV[2]))
if not h or h.state ~= 'active' or h.token ~= ARGV[3] then return 0 end
local k = ARGV[1] .. 'logs:' .. ARGV[2]
redis.call('RPUSH', k, ARGV[4])
redis.call('LTRIM', k, -tonumber(ARGV[5]), -1)
return 1`)

// expire: ARGV base, cutoff-ms, limit. Deletes the failed jobs that
// finished before cutoff (the oldest are at the right of the list);
// returns how many.
var expireScript = goredis.NewScript(`
local n = 0
while n < tonumber(ARGV[3]) do
  local el = redis.call('LINDEX', KEYS[8], -1)
  if not el then break end
  local t, id = string.match(el, '^(%d+)|(.*)$')
  if t and tonumber(t) >= tonumber(ARGV[2]) then break end
  redis.call('RPOP', KEYS[8])
  if id then
    redis.call('HDEL', KEYS[1], id)
    redis.call('DEL', ARGV[1] .. 'logs:' .. id)
  end
  n = n + 1
end
return n`)

// tick: ARGV base, now, emax, dedup-ttl-ms, schedule id, tick-ms, then one
// job as for enqueue (id, due, unique, name, head, tail). Makes the tick's
// job unless it was made, and records the tick as the schedule's last.
// Returns 1 when it made the job.
var tickScript = goredis.NewScript(prelude + `
local base, now, emax, ttl, sid, tick = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local last = tonumber(redis.call('HGET', base .. 'schedules:last', sid) or '0')
if tonumber(tick) > last then redis.call('HSET', base .. 'schedules:last', sid, tick) end
local id, name, head, tail = ARGV[7], ARGV[10], ARGV[11], ARGV[12]
if not redis.call('SET', base .. 'dedup:' .. id, '1', 'NX', 'PX', ttl) then return 0 end
if redis.call('HEXISTS', KEYS[1], id) == 1 then return 0 end
local pr = string.match(head, '"priority":"(%a+)"')
local tk = redis.call('INCR', KEYS[15])
enlist(base, pr, string.match(tail, ',"group":"([%w_.:%-]+)"'), tk .. ':' .. id)
redis.call('HSET', KEYS[1], id, head .. tk .. tail)
redis.call('XADD', KEYS[10], 'MAXLEN', '~', emax, '*', 'j', id, 's', 'waiting', 'a', '0', 'n', name, 't', now)
if redis.call('LLEN', KEYS[16]) == 0 then redis.call('LPUSH', KEYS[16], '1') end
return 1`)
