package tipbox_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tipbox/tipbox"
)

// A profile with several bad values fails the start with one readable
// line: each problem names its key, separated by "; ".
func TestConfigErrorsAreOneLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	profile := filepath.Join(dir, "bad.yaml")
	body := "database:\n  dsn: file:" + filepath.Join(dir, "t.db") + "\nhttp:\n  addr: nonsense\ncache:\n  default_ttl: soon\n"
	if err := os.WriteFile(profile, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := tipbox.API(tipbox.WithOutput(&stdout, &stderr)).Run([]string{"--config", profile})
	if code != 2 {
		t.Fatalf("exit code %d, want 2; stderr:\n%s", code, stderr.String())
	}
	out := strings.TrimSuffix(stderr.String(), "\n")
	want := "tipbox-api: config: " + profile + ": invalid configuration: "
	if strings.Contains(out, "\n") || !strings.HasPrefix(out, want) {
		t.Fatalf("stderr %q, want one line starting %q", out, want)
	}
	problems := strings.Split(strings.TrimPrefix(out, want), "; ")
	if len(problems) != 2 || !strings.HasPrefix(problems[0], "cache.default_ttl: ") || !strings.HasPrefix(problems[1], "http.addr: ") {
		t.Fatalf("problems %q, want the cache.default_ttl and http.addr ones", problems)
	}
}
