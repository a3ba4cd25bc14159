package main_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/tipbox/tipbox/core/push"
	"github.com/tipbox/tipbox/internal/e2e"
)

// `api vapid` prints a VAPID pair as the two variables that configure it;
// the pair passes the push section's check, and each run makes a new one.
func TestVapidPrintsAPair(t *testing.T) {
	t.Parallel()
	run := func() push.Config {
		out, err := exec.Command(e2e.Binary(t, "api"), "vapid").Output()
		if err != nil {
			t.Fatalf("api vapid: %v", err)
		}
		var cfg push.Config
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			k, v, _ := strings.Cut(line, "=")
			switch k {
			case "TIPBOX_PUSH_VAPID_PUBLIC_KEY":
				cfg.VAPIDPublicKey = v
			case "TIPBOX_PUSH_VAPID_PRIVATE_KEY":
				cfg.VAPIDPrivateKey = v
			default:
				t.Fatalf("unexpected line %q", line)
			}
		}
		cfg.SetDefaults()
		if err := cfg.Validate(); err != nil || !cfg.HasKeys() {
			t.Fatalf("printed pair: %v\n%s", err, out)
		}
		return cfg
	}
	if a, b := run(), run(); a.VAPIDPrivateKey == b.VAPIDPrivateKey {
		t.Fatal("two runs printed the same key")
	}
}
