package tipbox_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every Go block of docs/writing-a-module.md marked with its source file
// appears in that file word for word (whitespace aside), so the guide
// shows code that compiles and is tested, and cannot drift from it.
func TestGuideMatchesTheExamples(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("docs/writing-a-module.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)<!-- code: ([^ ]+) -->\n```go\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 10 {
		t.Fatalf("only %d checked blocks in the guide", len(blocks))
	}
	squash := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for _, b := range blocks {
		src, err := os.ReadFile(b[1])
		if err != nil {
			t.Errorf("the guide cites %s: %v", b[1], err)
			continue
		}
		if !strings.Contains(squash(string(src)), squash(b[2])) {
			t.Errorf("a block of the guide is not in %s:\n%s", b[1], b[2])
		}
	}
}
