package redisstream

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// TrimAcked deletes the entries of the stream topic that no consumer group
// still needs: XTRIM MINID up to the oldest entry that is pending in, or not
// yet delivered to, any group. It returns the number of entries removed.
//
// Why not MAXLEN: Redis trims by length whatever an entry's state, so a
// backlog longer than MAXLEN loses jobs that were never run; this keeps
// every unacknowledged entry. A stream without groups is left alone (its
// entries wait for their first consumer).
//
// Safe to call concurrently with publishers and consumers: the bound is
// computed from a snapshot and the state only moves forward (acks, reads),
// so a stale bound trims less, never more. It is three or more round trips
// (XINFO GROUPS, XPENDING per group with pending entries, XTRIM), meant to
// run every few seconds or every N acks, not per message.
func TrimAcked(ctx context.Context, client redis.UniversalClient, topic string) (int64, error) {
	groups, err := client.XInfoGroups(ctx, topic).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return 0, nil
		}
		return 0, fmt.Errorf("redisstream: xinfo groups %s: %w", topic, err)
	}
	if len(groups) == 0 {
		return 0, nil
	}
	var bound streamID
	for i, g := range groups {
		b, err := parseStreamID(g.LastDeliveredID)
		if err != nil {
			return 0, err
		}
		b = b.next()
		if g.Pending > 0 {
			p, err := client.XPending(ctx, topic, g.Name).Result()
			if err != nil {
				return 0, fmt.Errorf("redisstream: xpending %s %s: %w", topic, g.Name, err)
			}
			if p.Count > 0 {
				if b, err = parseStreamID(p.Lower); err != nil {
					return 0, err
				}
			}
		}
		if i == 0 || b.less(bound) {
			bound = b
		}
	}
	n, err := client.XTrimMinID(ctx, topic, bound.String()).Result()
	if err != nil {
		return 0, fmt.Errorf("redisstream: xtrim %s minid %s: %w", topic, bound, err)
	}
	return n, nil
}

// streamID is a parsed Redis stream entry id "ms-seq".
type streamID struct{ ms, seq uint64 }

func parseStreamID(s string) (streamID, error) {
	a, b, ok := strings.Cut(s, "-")
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return streamID{}, fmt.Errorf("redisstream: bad stream id %q", s)
	}
	return streamID{ms, seq}, nil
}

func (id streamID) next() streamID {
	if id.seq == ^uint64(0) {
		return streamID{id.ms + 1, 0}
	}
	return streamID{id.ms, id.seq + 1}
}

func (id streamID) less(o streamID) bool {
	return id.ms < o.ms || (id.ms == o.ms && id.seq < o.seq)
}

func (id streamID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.seq, 10)
}
