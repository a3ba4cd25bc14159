package redis

import goredis "github.com/redis/go-redis/v9"

// Every script touches the keys of one queue only (one hash tag), so it
// runs on Redis Cluster too.

// addUnique: KEYS dedup, stream, delayed; ARGV ttl-ms, "now"|"later",
// score, body, fields...  Adds the job unless its id is remembered.
var addUnique = goredis.NewScript(`
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
if ARGV[2] == 'later' then
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
else
  redis.call('XADD', KEYS[2], '*', unpack(ARGV, 5))
end
return 1`)

// promote: KEYS delayed, stream high, normal, low; ARGV repeated
// (member, stream index 1-3, field count, fields...). Moves each member
// still in the set to its stream, atomically, so two workers promoting at
// once never add a job twice and a crash never loses one.
var promote = goredis.NewScript(`
local i, moved = 1, 0
while i <= #ARGV do
  local n = tonumber(ARGV[i+2])
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    redis.call('XADD', KEYS[1 + tonumber(ARGV[i+1])], '*', unpack(ARGV, i+3, i+2+n))
    moved = moved + 1
  end
  i = i + 3 + n
end
return moved`)

// bury: KEYS failed hash, failed index, stats; ARGV id, record, score-µs,
// keep. Stores the dead letter, counts it, trims to the newest `keep`.
var bury = goredis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'failed', 1)
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if extra > 0 then
  local old = redis.call('ZRANGE', KEYS[2], 0, extra - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1)
  redis.call('HDEL', KEYS[1], unpack(old))
end
return 1`)

// revive: KEYS failed hash, failed index, stream; ARGV id, fields...
// Moves a dead letter back to its stream once (0 when already gone).
var revive = goredis.NewScript(`
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[3], '*', unpack(ARGV, 2))
return 1`)
