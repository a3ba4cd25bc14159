// A real socket.io-client, driven by the Go tests in tests/socketio and
// tests/e2e through stdin/stdout, one JSON object per line.
//
//   node client.mjs '{"url":"http://127.0.0.1:8080","auth":{"token":"…"},"transports":["websocket"]}'
//
// It prints what the client sees:
//   {"ev":"open","transport":"polling"|"websocket"}      the engine opened
//   {"ev":"connect","id":…,"recovered":bool,"transport":"polling"|"websocket"}
//   {"ev":"upgrade","transport":"websocket"}
//   {"ev":"notification","data":{…},"offset":"…"}
//   {"ev":"connect_error","message":…,"data":…}
//   {"ev":"disconnect","reason":…}
//   {"ev":"ack","data":…}
// and obeys commands:
//   {"cmd":"disconnect"} {"cmd":"connect"} {"cmd":"exit"}
//   {"cmd":"auth","token":"…"}           emit("auth", {token}) with an ack
//   {"cmd":"set_auth","auth":{…}}          replace the auth sent on the next connect
//   {"cmd":"reconnect","id":N}             disconnect, print {"ev":"reconnecting","id":N}, connect
//   {"cmd":"emit","event":…,"data":…,"n":N}  emit(event, data) N times
// Options besides url, auth and transports: query, extraHeaders (Node
// sends them on every request), namespace ("/admin": io(url + namespace)),
// event (the event name to listen to, default "notification").
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const opts = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

const socket = io(opts.url + (opts.namespace ?? ""), {
  auth: opts.auth,
  query: opts.query,
  extraHeaders: opts.extraHeaders,
  transports: opts.transports, // undefined: the default, polling then websocket
  reconnection: opts.reconnection ?? false,
  timeout: 10000,
});
const event = opts.event || "notification";

socket.io.on("open", () => {
  const engine = socket.io.engine;
  out({ ev: "open", transport: engine.transport.name });
  engine.once("upgrade", (t) => out({ ev: "upgrade", transport: t.name }));
});
socket.on("connect", () => {
  out({ ev: "connect", id: socket.id, recovered: !!socket.recovered, transport: socket.io.engine.transport.name });
});
socket.on(event, (data, offset) => out({ ev: "notification", data, offset }));
socket.on("connect_error", (err) => out({ ev: "connect_error", message: err.message, data: err.data ?? null }));
socket.on("disconnect", (reason, details) =>
  out({ ev: "disconnect", reason, description: details?.description?.message ?? null }));

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  const c = JSON.parse(line);
  switch (c.cmd) {
    case "disconnect":
      socket.disconnect();
      break;
    case "connect":
      socket.connect();
      break;
    case "reconnect":
      socket.disconnect();
      out({ ev: "reconnecting", id: c.id });
      socket.connect();
      break;
    case "set_auth":
      socket.auth = c.auth;
      break;
    case "auth":
      socket.timeout(5000).emit("auth", { token: c.token }, (err, data) => out({ ev: "ack", error: err ? String(err) : null, data }));
      break;
    case "emit": // emit(event, data) n times (default once), no ack
      for (let i = 0; i < (c.n ?? 1); i++) socket.emit(c.event, c.data);
      break;
    case "exit":
      socket.disconnect();
      process.exit(0);
  }
});
rl.on("close", () => {
  socket.disconnect();
  process.exit(0);
});
