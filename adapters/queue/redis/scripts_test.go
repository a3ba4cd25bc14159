package redis

import (
	"context"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/internal/testenv"
)

// activate (the claim's plain-search rewrite) must give what parse and
// build give, and refuse a record whose header token is not the element's
// even when the payload or the error holds a matching "token" key.
func TestActivateMatchesParseAndBuild(t *testing.T) {
	c := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = c.Close() })
	check := goredis.NewScript(prelude + `
local now = '1796228109999'
local rec, tk, other = ARGV[1], ARGV[2], ARGV[3]
local new, made, name = activate(rec, tk, now)
local h = parse(rec)
if not h then return 'parse failed' end
h.state, h.startedAt, h.progress = 'active', now, '0'
if new ~= build(h) then return 'record: ' .. tostring(new) end
if made ~= h.attempt then return 'attempt: ' .. tostring(made) end
if name ~= jname(h) then return 'name: ' .. tostring(name) end
if activate(rec, other, now) then return 'claimed with token ' .. other end
return 'ok'`)
	for _, tc := range []struct{ rec, tk, other string }{
		{`{"state":"waiting","priority":"normal","attempt":1,"stalls":0,"progress":0,"runAt":0,"startedAt":0,"finishedAt":0,"token":7,"error":null,"name":"n","maxAttempts":1,"enqueuedAt":1,"payload":null}`, "7", "8"},
		{`{"state":"waiting","priority":"high","attempt":3,"stalls":1,"progress":55,"runAt":1796228101135,"startedAt":1796228100000,"finishedAt":0,"token":77,"error":"boom \",\"token\":78,\"error\":","name":"a\u003cb","maxAttempts":5,"enqueuedAt":1,"group":"g1","payload":{"token":78,"error":1}}`, "77", "78"},
		{`{"state":"waiting","priority":"low","attempt":2,"stalls":0,"progress":0,"runAt":5,"startedAt":0,"finishedAt":0,"token":123,"error":null,"name":"x","maxAttempts":3,"enqueuedAt":1,"payload":{"a":",\"token\":12,\"error\":"}}`, "123", "12"},
	} {
		got, err := check.Run(context.Background(), c, []string{"{t}:x"}, tc.rec, tc.tk, tc.other).Text()
		if err != nil || got != "ok" {
			t.Errorf("%s: %q %v", tc.rec, got, err)
		}
	}
}
