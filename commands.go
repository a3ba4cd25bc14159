package tipbox

import (
	"fmt"
	"log/slog"

	"github.com/tipbox/tipbox/adapters/push/webpush"
	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/config"
)

// tokenCommand prints a signed token for a user, with the profile's auth
// section: `token --user ID [--role admin] [--ttl 1h] [--config FILE]`.
func tokenCommand(p *Program, args []string) int {
	fs := p.flags("token")
	cfgPath := configFlag(fs)
	user := fs.Int64("user", 0, "user `id` (the token's sub claim)")
	role := fs.String("role", auth.RoleUser, "role: user, viewer or admin")
	ttl := fs.Duration("ttl", 0, "lifetime (default auth.token_ttl, 1h)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *user <= 0 {
		fmt.Fprintf(p.stderr, "%s token: --user must be a positive user id\n", p.name)
		return 2
	}
	src, err := p.Load(*cfgPath)
	if err != nil {
		return p.Fail(err)
	}
	var root config.Root
	var cfg auth.Config
	if err := src.Decode("", &root); err != nil {
		return p.Fail(err)
	}
	if err := src.Decode("auth", &cfg); err != nil {
		return p.Fail(err)
	}
	v, err := auth.New(cfg, root.Env, slog.New(slog.NewTextHandler(p.stderr, nil)))
	if err != nil {
		return p.Fail(err)
	}
	tok, err := v.Issue(*user, *role, *ttl)
	if err != nil {
		return p.Fail(err)
	}
	fmt.Fprintln(p.stdout, tok)
	return 0
}

// vapidCommand prints a new VAPID key pair (Web Push) as the two
// environment variables that configure it.
func vapidCommand(p *Program, args []string) int {
	fs := p.flags("vapid")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	private, public, err := webpush.GenerateKeys()
	if err != nil {
		return p.Fail(err)
	}
	fmt.Fprintf(p.stdout, "TIPBOX_PUSH_VAPID_PUBLIC_KEY=%s\nTIPBOX_PUSH_VAPID_PRIVATE_KEY=%s\n", public, private)
	return 0
}
