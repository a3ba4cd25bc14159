package tipbox_test

import (
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox"
	"github.com/tipbox/tipbox/configs"
	"github.com/tipbox/tipbox/core/app"
)

// A wrong email or push driver, or the webpush driver without VAPID keys,
// stops the API (with embedded workers) before it starts, naming the key.
func TestChannelDriversAreChecked(t *testing.T) {
	t.Parallel()
	for env, want := range map[string]string{
		"TIPBOX_EMAIL_DRIVER=mailgun": `email.driver: "mailgun" is not one of log, none, smtp`,
		"TIPBOX_PUSH_DRIVER=apns":     `push.driver: "apns" is not one of log, none, webpush`,
		"TIPBOX_PUSH_DRIVER=webpush":  "push.vapid_private_key",
	} {
		src, err := app.LoadProfile("", configs.FS, configs.Default,
			[]string{"TIPBOX_DATABASE_DSN=file:" + t.TempDir() + "/c.db", env})
		if err != nil {
			t.Fatal(err)
		}
		opts, err := tipbox.API().Options(src)
		if err != nil {
			t.Fatal(err)
		}
		_, err = app.New(src, append(opts, fx.NopLogger)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", env, err, want)
		}
	}
}
