// Package realtime is the push port: modules publish a JSON object to a
// user (Publisher), a Bus carries it to every API process, and each
// process's Hub writes it to that user's open sockets: plain websockets
// (GET /ws) and Socket.IO v4 clients (/socket.io/, Engine.IO long-polling
// and websocket, written here: see SocketIOHandler).
//
// Both protocols share one session model (session): a per-user cap and an
// instance cap, inbound size and rate limits, a deadline at the token's
// expiry (refreshable on the socket), replay of missed events from a
// History (the notification inbox) on reconnect, and presence counts,
// shared through the driver's PresenceStore across instances.
//
//	worker handler ──Publish──▶ Bus (memory | redis) ──▶ Hub (every cmd/api) ──▶ the user's sockets
//
// The Bus is chosen by realtime.driver among drivers registered in the
// "realtime.drivers" value group (adapters/realtime/memory: in process,
// the embedded profile; adapters/realtime/redis: Redis pub/sub across
// processes). Delivery is at most once and best effort: a user who is
// offline, a slow socket that is dropped, an instance cut from Redis, all
// lose the push, never the notification (the inbox has it), and the
// publisher is never held up.
//
// Socket life (see Hub): the request passes the server's per-caller HTTP
// rate limit (the user of its token or Socket.IO session, else its IP: see
// the handlers' RateCaller), the upgrade is authenticated (token in
// "Authorization: Bearer" or ?token=), checked against the allowed origins,
// and the socket is registered before the 101 is sent, so an event
// published once the client is connected reaches it. One writer goroutine
// per socket does every write (contrib/websocket panics on concurrent
// writes) from a bounded buffer; a full buffer drops the socket (close code
// 1013) instead of blocking anyone. The server pings every ping_interval
// and drops a peer silent for ping_interval+pong_timeout. On shutdown
// every socket gets close code 1001 before the HTTP server stops.
//
// The wire protocol is in docs/realtime-protocol.md; the reasoning in
// docs/decisions/0006-realtime.md.
package realtime
