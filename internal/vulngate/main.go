// Command vulngate reads `govulncheck -format json` on stdin, prints one
// line per vulnerability the code reaches, and exits 1 when there is any:
// go.mod fixes both kinds, a module's by its version and the standard
// library's by the toolchain line the Makefile and .ci/run build with.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
}

type message struct {
	Finding *struct {
		OSV          string  `json:"osv"`
		FixedVersion string  `json:"fixed_version"`
		Trace        []frame `json:"trace"`
	} `json:"finding"`
}

func main() {
	dec := json.NewDecoder(os.Stdin)
	type key struct{ osv, module, fixed string }
	called := map[key]bool{}
	for {
		var m message
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "vulngate: reading govulncheck output:", err)
			os.Exit(2)
		}
		if m.Finding == nil || len(m.Finding.Trace) == 0 || m.Finding.Trace[0].Function == "" {
			continue // only reached code counts: imported or required is not called
		}
		t := m.Finding.Trace[0]
		called[key{m.Finding.OSV, t.Module + "@" + t.Version, m.Finding.FixedVersion}] = true
	}
	keys := make([]key, 0, len(called))
	for k := range called {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].osv < keys[j].osv })
	failed := 0
	for _, k := range keys {
		if len(k.module) >= 7 && k.module[:7] == "stdlib@" {
			fmt.Printf("FAIL: %s in the Go standard library (%s), fixed in Go %s: raise go.mod's toolchain line\n", k.osv, k.module[7:], k.fixed)
			continue
		}
		fmt.Printf("FAIL: %s in %s, fixed in %s\n", k.osv, k.module, k.fixed)
		failed++
	}
	fmt.Printf("vulngate: %d reached vulnerabilities in modules, %d in the standard library\n", failed, len(keys)-failed)
	if len(keys) > 0 {
		os.Exit(1)
	}
}
