package tipbox_test

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox"
	"github.com/tipbox/tipbox/configs"
	"github.com/tipbox/tipbox/core/app"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/internal/configdoc"
)

var update = flag.Bool("update", false, "rewrite the generated table in docs/configuration.md")

const (
	docPath   = "docs/configuration.md"
	beginMark = "<!-- BEGIN GENERATED KEYS (go test . -run TestConfigurationDocIsCurrent -update) -->"
	endMark   = "<!-- END GENERATED KEYS -->"
)

type sectionsOut struct {
	fx.In
	Sections []config.Section `group:"config.sections"`
}

// sections builds each program's app (not started) and collects the config
// sections it registers.
func sections(t *testing.T, profile string, worker bool) []config.Section {
	t.Helper()
	src, err := app.LoadProfile(profile, configs.FS, configs.Default,
		[]string{"TIPBOX_DATABASE_DSN=file:" + t.TempDir() + "/doc.db"})
	if err != nil {
		t.Fatal(err)
	}
	prog := tipbox.API()
	if worker {
		prog = tipbox.Worker()
	}
	opts, err := prog.Options(src)
	if err != nil {
		t.Fatal(err)
	}
	var out []config.Section
	a, err := app.New(src, append(opts, fx.Invoke(func(s sectionsOut) { out = s.Sections }), fx.NopLogger)...)
	if err != nil {
		t.Fatal(err)
	}
	_ = a
	return out
}

// Both programs build from both profiles, and docs/configuration.md lists
// exactly the keys they register, with their defaults.
func TestConfigurationDocIsCurrent(t *testing.T) {
	api, worker := sections(t, "", false), sections(t, "configs/redis.yaml", true)
	keys := func(ss []config.Section) string {
		var k []string
		for _, s := range configdoc.Rows(ss) {
			k = append(k, s.Key)
		}
		return strings.Join(k, "\n")
	}
	if a, w := keys(api), keys(worker); a != w {
		t.Fatalf("cmd/api and cmd/worker accept different keys; they must share profiles.\napi:\n%s\nworker:\n%s", a, w)
	}
	all := append(api, worker...)
	var table bytes.Buffer
	configdoc.Markdown(&table, configdoc.Rows(all))

	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	b, e := strings.Index(s, beginMark), strings.Index(s, endMark)
	if b < 0 || e < b {
		t.Fatalf("%s lacks the generated-table markers", docPath)
	}
	fresh := s[:b+len(beginMark)] + "\n" + table.String() + s[e:]
	if fresh == s {
		return
	}
	if *update {
		if err := os.WriteFile(docPath, []byte(fresh), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("docs/configuration.md is out of date: run `go test . -run TestConfigurationDocIsCurrent -update`")
}
