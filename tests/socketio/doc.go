// Package socketio tests the Socket.IO endpoint with the real
// socket.io-client from npm (pinned in client/package.json and
// package-lock.json, installed by .ci/run with `npm ci`), run by Node and
// driven by the Go tests through internal/e2e.SIOClient.
package socketio
