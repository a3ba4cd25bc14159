package archtest

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// outside matches a citation of a document the repository does not hold:
// a section of the product contract, a numbered tracker issue, or "the
// original" application's rules.
var outside = regexp.MustCompile(`SPEC ?§|\b(SPEC|STYLE)\.md\b|\b[Ii]ssues? #?[0-9]+\b|\bthe original'?s\b`)

// outsideInDocs is outside for Markdown, where "the original" (the Node
// service this project rebuilds) is the subject of the prose, not a
// citation.
var outsideInDocs = regexp.MustCompile(`SPEC ?§|\b(SPEC|STYLE)\.md\b|\b[Ii]ssues? #?[0-9]+\b`)

// sourceExt are the files whose comments the check reads; Markdown is
// checked with outsideInDocs.
var sourceExt = map[string]bool{".go": true, ".mjs": true, ".js": true, ".sql": true, ".sh": true,
	".yaml": true, ".yml": true, ".html": true, ".css": true, ".tmpl": true}

// No source file or document cites a document outside the repository: a
// reader of the code cannot follow such a reference.
func TestNoCommentCitesAnOutsideDocument(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == ".git" || n == "node_modules" || n == "data" || n == ".bench" {
				return filepath.SkipDir
			}
			return nil
		}
		pattern := outside
		if filepath.Ext(path) == ".md" {
			pattern = outsideInDocs
		} else if !sourceExt[filepath.Ext(path)] && d.Name() != "Makefile" {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
		for n := 1; sc.Scan(); n++ {
			if m := pattern.FindString(sc.Text()); m != "" {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s:%d cites %q: %s", rel, n, m, strings.TrimSpace(sc.Text()))
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}
