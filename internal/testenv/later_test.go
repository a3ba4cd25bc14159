package testenv

import (
	"fmt"
	"testing"
)

func TestLaterIsEvaluatedWhenPrinted(t *testing.T) {
	n := 1
	args := []any{Later(func() any { return struct{ N int }{n} }), Later(func() any { return n })}
	n = 2 // after the arguments were made, before they are printed
	if got := fmt.Sprintf("%+v|%03d", args...); got != "{N:2}|002" {
		t.Fatalf("got %q, want {N:2}|002", got)
	}
}
