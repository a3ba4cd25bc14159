package dashboard_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// The screenshots TestDashboardInBrowser takes (committed under docs/img)
// are shown where operators read about the dashboard: the README and the
// operations guide, each linking the files that exist.
func TestScreenshotsShown(t *testing.T) {
	root := filepath.Join("..", "..")
	image := regexp.MustCompile(`!\[[^\]]*\]\(([^)\s]+)\)`)
	for _, doc := range []string{"README.md", "docs/operations.md"} {
		text, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		shown := map[string]bool{}
		for _, m := range image.FindAllStringSubmatch(string(text), -1) {
			p := filepath.Join(root, filepath.Dir(doc), m[1])
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s shows %s: %v", doc, m[1], err)
				continue
			}
			rel, _ := filepath.Rel(root, p)
			shown[filepath.ToSlash(rel)] = true
		}
		for _, img := range []string{"docs/img/dashboard-overview.png", "docs/img/dashboard-job.png"} {
			if !shown[img] {
				t.Errorf("%s does not show %s", doc, img)
			}
		}
	}
}
