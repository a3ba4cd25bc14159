package redis

import goredis "github.com/redis/go-redis/v9"

// The scripts. Each runs on one queue's keys (one hash tag, so one Cluster
// slot), passed in the order of keys.all:
//
//	KEYS[1] jobs  [2] high [3] normal [4] low  [5] active [6] delayed
//	[7] completed [8] failed [9] cancelled [10] events [11] stats
//	[12] paused [13] cancelling [14] minutes
//
// Every state change of a job happens inside one script: its record, its
// index, its stream entry, its counters, its event. A crash at any instant
// leaves each job in exactly one state.

// prelude holds the helpers every script shares: the record header (see
// record.go), the event writer and retention.
const prelude = `
local HDR = '^{"state":"(%a+)","priority":"(%a+)","attempt":(%d+),"stalls":(%d+),"progress":(%d+),"runAt":(%d+),"startedAt":(%d+),"finishedAt":(%d+),"entry":"([%d%-]*)","error":()'
local function parse(rec)
  if not rec then return nil end
  local st, pr, at, sl, pg, ra, sa, fa, en, ep = string.match(rec, HDR)
  if not st then return nil end
  local np = string.find(rec, ',"name":', ep, true)
  if not np then return nil end
  return {state = st, prio = pr, attempt = tonumber(at), stalls = tonumber(sl), progress = pg, runAt = ra,
    startedAt = sa, finishedAt = fa, entry = en, err = string.sub(rec, ep, np - 1), tail = string.sub(rec, np)}
end
local function build(h)
  return '{"state":"' .. h.state .. '","priority":"' .. h.prio .. '","attempt":' .. h.attempt ..
    ',"stalls":' .. h.stalls .. ',"progress":' .. h.progress .. ',"runAt":' .. h.runAt ..
    ',"startedAt":' .. h.startedAt .. ',"finishedAt":' .. h.finishedAt .. ',"entry":"' .. h.entry ..
    '","error":' .. h.err .. h.tail
end
local function jname(h) return string.match(h.tail, '^,"name":"(.-)","maxAttempts":') or '' end
local function maxAttempts(h) return tonumber(string.match(h.tail, '^,"name":".-","maxAttempts":(%d+)')) or 1 end
local STREAM = {high = 2, normal = 3, low = 4}
local function made(h)
  if h.state == 'waiting' or h.state == 'delayed' or (h.state == 'cancelled' and h.startedAt == '0') then
    return h.attempt - 1
  end
  return h.attempt
end
local function event(h, id, emax, now, prog)
  local a = {KEYS[10], 'MAXLEN', '~', emax, '*', 'j', id, 's', h.state, 'a', made(h), 'n', jname(h), 't', now}
  if h.err ~= 'null' and (h.state == 'failed' or h.state == 'delayed' or h.state == 'cancelled') then
    a[#a + 1] = 'e'; a[#a + 1] = h.err
  end
  if prog then a[#a + 1] = 'p'; a[#a + 1] = prog end
  redis.call('XADD', unpack(a))
end
local function retain(zkey, keep, base)
  local n = redis.call('ZCARD', zkey) - keep
  if n <= 0 then return 0 end
  local old = redis.call('ZPOPMIN', zkey, n)
  for i = 1, #old, 2 do
    redis.call('HDEL', KEYS[1], old[i])
    redis.call('DEL', base .. 'logs:' .. old[i])
  end
  return n
end
local function field(f, name)
  for k = 1, #f, 2 do if f[k] == name then return f[k + 1] end end
  return nil
end
`

// enqueue: ARGV base, now, emax, dedup-ttl-ms, then per job: id, due-ms
// (0 = now), unique (0|1), name, record-head, record-tail (the record
// split where its entry id goes). Returns 1 per job added, 0 per job
// skipped (a unique id remembered, or an id the queue holds).
var enqueueScript = goredis.NewScript(prelude + `
local base, now, emax, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local nowN = tonumber(now)
local out = {}
local i = 5
while i <= #ARGV do
  local id, due, uniq, name, head, tail = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  i = i + 6
  local ok = 1
  if uniq == '1' and not redis.call('SET', base .. 'dedup:' .. id, '1', 'NX', 'PX', ttl) then ok = 0 end
  if ok == 1 and redis.call('HEXISTS', KEYS[1], id) == 1 then ok = 0 end
  if ok == 1 then
    local state = 'waiting'
    if due > nowN then
      state = 'delayed'
      redis.call('HSET', KEYS[1], id, head .. tail)
      redis.call('ZADD', KEYS[6], due, id)
    else
      local pr = string.match(head, '"priority":"(%a+)"')
      local eid = redis.call('XADD', KEYS[STREAM[pr] or 3], '*', 'id', id)
      redis.call('HSET', KEYS[1], id, head .. eid .. tail)
    end
    redis.call('XADD', KEYS[10], 'MAXLEN', '~', emax, '*', 'j', id, 's', state, 'a', 0, 'n', name, 't', now)
  end
  out[#out + 1] = ok
end
return out`)

// fetch: ARGV base, now, emax, group, consumer, want, keep-completed,
// keep-failed, settlement count, then per settlement: kind, id, stream
// (1-3), entry, at-ms, error (JSON or ""), progress (or ""), replacement
// record (or "": the record to write instead of the stored one, for an
// entry that is not a readable job). Settles, then claims up to want jobs,
// highest priority first. Returns {dropped, paused, last-id high, normal,
// low (set when it came up short), then per claim: stream, entry, id
// ("" for a raw entry), record (or the raw entry's fields as JSON)}.
var fetchScript = goredis.NewScript(prelude + `
local base, now, emax, group, consumer = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local want, keepC, keepF, ns = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local minute = math.floor(tonumber(now) / 60000)
local dropped = 0
local i = 10
for _ = 1, ns do
  local kind, id, si, eid, at, err, prog, rep = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
  i = i + 8
  if redis.call('XACK', KEYS[1 + si], group, eid) == 1 then
    redis.call('XDEL', KEYS[1 + si], eid)
    redis.call('ZREM', KEYS[5], id)
    local h
    if rep ~= '' then h = parse(rep) else h = parse(redis.call('HGET', KEYS[1], id)) end
    if h and (rep ~= '' or (h.state == 'active' and h.entry == eid)) then
      if redis.call('SREM', KEYS[13], id) == 1 and kind ~= 'completed' then kind = 'cancelled' end
      if prog ~= '' then h.progress = prog end
      h.entry = ''
      if kind == 'completed' then
        h.state, h.finishedAt, h.progress, h.err = 'completed', now, '100', 'null'
        redis.call('ZADD', KEYS[7], now, id)
        redis.call('HINCRBY', KEYS[11], 'completed', 1)
        redis.call('HINCRBY', KEYS[14], minute .. ':c', 1)
      elseif kind == 'retry' then
        h.state, h.attempt, h.runAt, h.err = 'delayed', h.attempt + 1, at, err
        redis.call('ZADD', KEYS[6], at, id)
        redis.call('HINCRBY', KEYS[11], 'retried', 1)
      elseif kind == 'dead' then
        h.state, h.finishedAt = 'failed', now
        if err ~= '' then h.err = err end
        redis.call('ZADD', KEYS[8], now, id)
        redis.call('HINCRBY', KEYS[11], 'failed', 1)
        redis.call('HINCRBY', KEYS[14], minute .. ':f', 1)
      elseif kind == 'cancelled' then
        h.state, h.finishedAt = 'cancelled', now
        if err ~= '' then h.err = err end
        redis.call('ZADD', KEYS[9], now, id)
      else
        h.state, h.startedAt, h.runAt = 'waiting', '0', now
        h.entry = redis.call('XADD', KEYS[1 + si], '*', 'id', id)
      end
      redis.call('HSET', KEYS[1], id, build(h))
      event(h, id, emax, now)
      if kind == 'completed' then retain(KEYS[7], keepC, base)
      elseif kind == 'dead' then dropped = dropped + retain(KEYS[8], keepF, base)
      elseif kind == 'cancelled' then retain(KEYS[9], keepC, base) end
    end
  end
end
local out = {dropped, 0, '', '', ''}
if want <= 0 then return out end
if redis.call('EXISTS', KEYS[12]) == 1 then out[2] = 1; return out end
local need = want
for si = 1, 3 do
  while need > 0 do
    local asked = need
    local res = redis.pcall('XREADGROUP', 'GROUP', group, consumer, 'COUNT', asked, 'STREAMS', KEYS[1 + si], '>')
    if type(res) == 'table' and res.err then
      redis.call('XGROUP', 'CREATE', KEYS[1 + si], group, '0', 'MKSTREAM')
      res = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', asked, 'STREAMS', KEYS[1 + si], '>')
    end
    if not res then break end
    local entries = res[1][2]
    for _, e in ipairs(entries) do
      local eid, f = e[1], e[2]
      local id = field(f, 'id')
      if not id then
        out[#out + 1] = si; out[#out + 1] = eid; out[#out + 1] = ''; out[#out + 1] = cjson.encode(f)
        need = need - 1
      else
        local rec = redis.call('HGET', KEYS[1], id)
        local h = parse(rec)
        if h and h.state == 'waiting' and h.entry == eid then
          h.state, h.startedAt, h.progress = 'active', now, '0'
          rec = build(h)
          redis.call('HSET', KEYS[1], id, rec)
          redis.call('ZADD', KEYS[5], now, id)
          event(h, id, emax, now)
          out[#out + 1] = si; out[#out + 1] = eid; out[#out + 1] = id; out[#out + 1] = rec
          need = need - 1
        elseif rec and not h then
          out[#out + 1] = si; out[#out + 1] = eid; out[#out + 1] = id; out[#out + 1] = rec
          need = need - 1
        else
          redis.call('XACK', KEYS[1 + si], group, eid)
          redis.call('XDEL', KEYS[1 + si], eid)
        end
      end
    end
    if #entries < asked then break end
  end
end
if need > 0 then
  for si = 1, 3 do
    local r = redis.call('XREVRANGE', KEYS[1 + si], '+', '-', 'COUNT', 1)
    if r[1] then out[2 + si] = r[1][1] else out[2 + si] = '0-0' end
  end
end
return out`)

// promote: ARGV now, emax, limit. Moves due delayed jobs to waiting.
var promoteScript = goredis.NewScript(prelude + `
local ids = redis.call('ZRANGE', KEYS[6], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[3])
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[6], id)
  local rec = redis.call('HGET', KEYS[1], id)
  local h = parse(rec)
  if h and h.state == 'delayed' then
    h.state = 'waiting'
    h.entry = redis.call('XADD', KEYS[STREAM[h.prio] or 3], '*', 'id', id)
    redis.call('HSET', KEYS[1], id, build(h))
    event(h, id, ARGV[2], ARGV[1])
  elseif rec and not h then
    redis.call('XADD', KEYS[3], '*', 'id', id) -- a worker dead-letters it
  end
end
return #ids`)

// reclaim: ARGV base, now, emax, group, min-idle-ms, max-stalled, stream
// (1-3), keep-completed, keep-failed, count. Takes back deliveries idle
// longer than min-idle (their worker stopped heartbeating): each counts
// as a stall and an attempt; back to waiting, or failed with "stalled"
// past max-stalled or the last attempt. Returns {taken back, dropped}.
var reclaimScript = goredis.NewScript(prelude + `
local base, now, emax, group = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local maxStalled, si, keepC, keepF = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local stream = KEYS[1 + si]
local p = redis.pcall('XPENDING', stream, group, 'IDLE', ARGV[5], '-', '+', ARGV[10])
if type(p) ~= 'table' or p.err then return {0, 0} end
local minute = math.floor(tonumber(now) / 60000)
local n, dropped = 0, 0
for _, e in ipairs(p) do
  local eid = e[1]
  local r = redis.call('XRANGE', stream, eid, eid)
  redis.call('XACK', stream, group, eid)
  redis.call('XDEL', stream, eid)
  n = n + 1
  local f = r[1] and r[1][2]
  local id = f and field(f, 'id')
  if f and not id then
    redis.call('XADD', stream, '*', unpack(f)) -- not a job: a worker dead-letters it
  elseif id then
    local rec = redis.call('HGET', KEYS[1], id)
    local h = parse(rec)
    if h and h.state == 'active' and h.entry == eid then
      redis.call('ZREM', KEYS[5], id)
      h.stalls = h.stalls + 1
      h.entry = ''
      local kind
      if redis.call('SREM', KEYS[13], id) == 1 then
        h.state, h.finishedAt = 'cancelled', now
        redis.call('ZADD', KEYS[9], now, id)
        kind = 'cancelled'
      elseif h.stalls > maxStalled or h.attempt >= maxAttempts(h) then
        h.state, h.finishedAt, h.err = 'failed', now, '"stalled"'
        redis.call('ZADD', KEYS[8], now, id)
        redis.call('HINCRBY', KEYS[11], 'failed', 1)
        redis.call('HINCRBY', KEYS[14], minute .. ':f', 1)
        kind = 'dead'
      else
        h.state, h.attempt, h.startedAt, h.runAt = 'waiting', h.attempt + 1, '0', now
        h.entry = redis.call('XADD', stream, '*', 'id', id)
      end
      redis.call('HINCRBY', KEYS[11], 'stalled', 1)
      redis.call('HSET', KEYS[1], id, build(h))
      event(h, id, emax, now)
      if kind == 'dead' then dropped = dropped + retain(KEYS[8], keepF, base)
      elseif kind == 'cancelled' then retain(KEYS[9], keepC, base) end
    elseif rec and not h then
      redis.call('XADD', stream, '*', 'id', id)
    end
  end
end
return {n, dropped}`)

// act: ARGV base, now, emax, keep-completed, action, ids... Applies an
// admin action per id; returns per id 0 done, 1 not found, 2 the state
// does not allow it, 3 cancel requested (active), 4 not retryable
// (undecodable), followed by the job's state when 2.
var actScript = goredis.NewScript(prelude + `
local base, now, emax, keepC, a = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local SET = {delayed = 6, completed = 7, failed = 8, cancelled = 9}
local out = {}
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
      for _, k in pairs(SET) do redis.call('ZREM', KEYS[k], id) end
    else
      code, st = 2, 'unreadable'
    end
  elseif a == 'remove' then
    if h.state == 'active' then
      code, st = 2, h.state
    else
      if h.state == 'waiting' then
        redis.call('XDEL', KEYS[STREAM[h.prio] or 3], h.entry)
      else
        redis.call('ZREM', KEYS[SET[h.state]], id)
      end
      redis.call('HDEL', KEYS[1], id)
      redis.call('DEL', base .. 'logs:' .. id)
    end
  elseif a == 'cancel' and h.state == 'active' then
    redis.call('SADD', KEYS[13], id)
    redis.call('PUBLISH', base .. 'cancel', id)
    code = 3
  else
    local ok = true
    if a == 'retry' then
      if h.state ~= 'failed' and h.state ~= 'cancelled' then ok = false
      elseif jname(h) == '(undecodable)' then code, ok = 4, false end
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
      if h.state == 'waiting' then
        redis.call('XDEL', KEYS[STREAM[h.prio] or 3], h.entry)
      else
        redis.call('ZREM', KEYS[SET[h.state]], id)
      end
      if a == 'cancel' then
        h.state, h.finishedAt, h.entry = 'cancelled', now, ''
        redis.call('ZADD', KEYS[9], now, id)
      else
        if a == 'retry' then
          h.attempt, h.stalls, h.progress, h.startedAt, h.finishedAt = 1, 0, '0', '0', '0'
        end
        h.state, h.runAt = 'waiting', now
        h.entry = redis.call('XADD', KEYS[STREAM[h.prio] or 3], '*', 'id', id)
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

// progress: ARGV now, emax, id, entry, percent. Sets an active delivery's
// progress and records a progress event.
var progressScript = goredis.NewScript(prelude + `
local h = parse(redis.call('HGET', KEYS[1], ARGV[3]))
if not h or h.state ~= 'active' or h.entry ~= ARGV[4] then return 0 end
h.progress = ARGV[5]
redis.call('HSET', KEYS[1], ARGV[3], build(h))
event(h, ARGV[3], ARGV[2], ARGV[1], ARGV[5])
return 1`)

// appendLog: ARGV base, id, entry, line, max-lines. Appends a line to an
// active delivery's log, keeping the newest max-lines.
var logScript = goredis.NewScript(prelude + `
local h = parse(redis.call('HGET', KEYS[1], ARGV[2]))
if not h or h.state ~= 'active' or h.entry ~= ARGV[3] then return 0 end
local k = ARGV[1] .. 'logs:' .. ARGV[2]
redis.call('RPUSH', k, ARGV[4])
redis.call('LTRIM', k, -tonumber(ARGV[5]), -1)
return 1`)

// expire: ARGV base, cutoff-ms, limit. Deletes failed jobs that finished
// before cutoff; returns how many.
var expireScript = goredis.NewScript(prelude + `
local ids = redis.call('ZRANGE', KEYS[8], '-inf', '(' .. ARGV[2], 'BYSCORE', 'LIMIT', 0, ARGV[3])
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[8], id)
  redis.call('HDEL', KEYS[1], id)
  redis.call('DEL', ARGV[1] .. 'logs:' .. id)
end
return #ids`)
