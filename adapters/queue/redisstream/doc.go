// Package redisstream is Tipbox's Redis Streams transport for Watermill: a
// message.Publisher and message.Subscriber that keep watermill-redisstream's
// stream layout and Marshaller interface, but not its costs and traps.
//
// # Layout
//
// One stream per topic, key = topic name. An entry has the stock fields
// "_watermill_message_uuid", "payload" (bytes as given) and "metadata". The
// default JSONMarshaller stores metadata as a JSON object, so entries are
// readable with `redis-cli XRANGE`, and a stock redisstream.Subscriber given
// JSONMarshaller reads Tipbox streams (tested). A topic is a single key, so
// a hash-tagged name such as "tipbox:{notifications}:jobs" works unchanged
// on Redis Cluster.
//
// # Why not stock watermill-redisstream (see "Traps" in shared/STYLE.md)
//
//   - It reads with COUNT 1 and holds the next entry until the current one
//     is acked: one Subscribe = one message per round trip, ~6.5k/s. Here
//     the reader takes COUNT BatchSize per XREADGROUP into a read-ahead
//     buffer, a dispatcher keeps up to InFlight messages outstanding, and
//     acks are coalesced into one multi-id XACK (flushed after
//     AckFlushInterval, after BatchSize acks, or when nothing read is left
//     outstanding). Round trips, not CPU, bound a queue on Redis.
//   - It publishes one XADD per round trip. Publisher here queues every
//     Publish call to flusher goroutines that send whatever has accumulated
//     as one pipeline, so concurrent callers share round trips while a lone
//     caller still pays just one; Publish returns when Redis has stored the
//     entries.
//   - A nacked message sleeps inside its consumer and blocks the ones behind
//     it. Here a nack puts the message back at the head of the dispatch
//     queue without holding an InFlight slot; the others keep flowing.
//     (Retry with backoff is the job engine's business: it acks and
//     re-enqueues, so a waiting retry holds no worker at all.)
//   - Its read-ahead is stranded for MaxIdleTime (60 s) after a crash or a
//     graceful Close, and a restarted consumer never re-reads its own
//     pending entries. Here a subscription first reads its own pending
//     entries (XREADGROUP from id 0), so a worker restarted under the same
//     stable Consumer name resumes at once; Close marks undelivered
//     read-ahead idle (XCLAIM ... IDLE) so another live worker takes it at
//     its next claim; XAUTOCLAIM takes over dead consumers' entries after
//     MinIdleTime. Live consumers renew their entries (XCLAIM JUSTID every
//     MinIdleTime/3), so a long job is never taken from a live worker and
//     MinIdleTime can be short.
//   - One undecodable entry ends its subscription (the Router then stops
//     with "All handlers stopped"). Here it goes to the DeadLetter callback
//     and is acked; the stream keeps flowing. If the callback fails, the
//     entry stays pending and is offered again after MinIdleTime.
//   - Its entries are never deleted, and MAXLEN ignores whether an entry was
//     acked. TrimAcked (Subscriber.Trim) removes with XTRIM MINID only what
//     every consumer group has acknowledged; MaxLen remains as a safety cap.
//   - Metadata is msgpack (unreadable in redis-cli): JSON here.
//   - Close closes the go-redis client it was given. Here the caller owns the
//     client: Close never closes it, so one client can be shared.
//
// # Failure behaviour
//
// Delivery is at-least-once. Redis errors never end a subscription: reads
// retry with backoff (50 ms to 1 s); after a restart that lost the data
// (NOGROUP) the group is recreated (MKSTREAM, BUSYGROUP tolerated) and
// consumption continues with what is published afterwards; failed acks are
// retried. Graceful shutdown (Close, or cancelling the Subscribe context)
// stops reading, waits up to CloseTimeout for delivered messages to be acked
// or nacked, flushes the acks and leaves everything else pending for the
// consumer's restart.
//
// Both types are plain constructors over a caller-owned
// redis.UniversalClient (single node or cluster); no globals, no fx needed.
package redisstream
