package kudos_test

import (
	"encoding/json"
	"testing"

	"github.com/tipbox/tipbox"
	"github.com/tipbox/tipbox/examples/kudos"
	"github.com/tipbox/tipbox/tipboxtest"
)

// The module boots in the real API (SQLite in a temp dir) beside Tipbox's
// own modules, and its routes work.
func TestKudosModule(t *testing.T) {
	t.Parallel()
	app := tipboxtest.Start(t, tipbox.API(tipbox.WithModules(kudos.Module)), "kudos:\n  max_message: 10\n")
	tok := app.Token(1, "")
	if got, body := app.Do("POST", "/api/v1/kudos", tok, `{"to":2,"message":"thanks!"}`); got != 201 {
		t.Fatalf("send: %d %s", got, body)
	}
	if got, _ := app.Do("POST", "/api/v1/kudos", tok, `{"to":2,"message":"far too long a message"}`); got != 400 {
		t.Fatalf("long message: %d", got)
	}
	if got, _ := app.Do("GET", "/api/v1/users/2/kudos", "", ""); got != 401 {
		t.Fatalf("without a token: %d, want 401", got)
	}
	status, body := app.Do("GET", "/api/v1/users/2/kudos", tok, "")
	var list []kudos.Kudos
	if err := json.Unmarshal(body, &list); status != 200 || err != nil || len(list) != 1 || list[0].Message != "thanks!" || list[0].From != 1 {
		t.Fatalf("list: %d %s %v", status, body, err)
	}
}
