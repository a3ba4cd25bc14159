package socketio_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/realtime"
	rt "github.com/tipbox/tipbox/core/realtime/realtimetest"
	"github.com/tipbox/tipbox/internal/e2e"
)

func TestSmoke(t *testing.T) {
	s := rt.StartServer(t, realtime.Config{}, nil, rt.Options{})
	for _, tr := range [][]string{nil, {"websocket"}} {
		c := e2e.StartSIO(t, e2e.SIOOptions{URL: s.Base, Auth: map[string]any{"token": s.Token(t, 5)}, Transports: tr})
		e, _ := c.Until("connect", 10*time.Second)
		t.Logf("connect %+v", e)
		rt.WaitFor(t, 5*time.Second, func() bool { return s.Hub.Connections(5) == 1 }, "joined")
		if tr == nil {
			u, _ := c.Until("upgrade", 10*time.Second)
			t.Logf("upgrade %+v", u)
		}
		s.Hub.Deliver(realtime.Event{UserID: 5, Payload: json.RawMessage(`{"type":"NEW_BADGE","id":"12"}`)})
		n, _ := c.Until("notification", 5*time.Second)
		t.Logf("got %s %v", n.Data, *n.Offset)
		c.Send(map[string]any{"cmd": "exit"})
		rt.WaitFor(t, 5*time.Second, func() bool { return s.Hub.Connections(5) == 0 }, "left")
	}
}
