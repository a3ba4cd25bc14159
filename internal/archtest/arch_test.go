// Package archtest checks the dependency rule of docs/architecture.md.
package archtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/tipbox/tipbox/"

// deps lists the packages (of this module) that the pattern's non-test
// code depends on, one line per "importer: dependency" pair.
func deps(t *testing.T, pattern string) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, pattern).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pattern, err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, d := range f[1:] {
			if strings.HasPrefix(d, module) {
				m[f[0]] = append(m[f[0]], d)
			}
		}
	}
	return m
}

// Core imports no adapter, no module, and not the composition (the root
// package and tipboxtest build on core, never the other way).
func TestCoreImportsNoAdapterOrModule(t *testing.T) {
	t.Parallel()
	for pkg, ds := range deps(t, "../../core/...") {
		for _, d := range ds {
			if strings.HasPrefix(d, module+"adapters") || strings.HasPrefix(d, module+"modules") ||
				d == strings.TrimSuffix(module, "/") || strings.HasPrefix(d, module+"tipboxtest") {
				t.Errorf("%s depends on %s", pkg, d)
			}
		}
	}
}

// Modules use ports, never adapters: the adapter is chosen by config.
func TestModulesImportNoAdapter(t *testing.T) {
	t.Parallel()
	for pkg, ds := range deps(t, "../../modules/...") {
		for _, d := range ds {
			if strings.HasPrefix(d, module+"adapters") {
				t.Errorf("%s depends on %s", pkg, d)
			}
		}
	}
}

// The examples are what a third party writes: they use the public API
// only (core ports, the root package, tipboxtest), never an adapter or an
// internal package.
func TestExamplesUsePublicAPIOnly(t *testing.T) {
	t.Parallel()
	for pkg, ds := range deps(t, "../../examples/...") {
		for _, d := range ds {
			if pkg == module+"examples/app" && !strings.HasPrefix(d, module+"examples") {
				continue // a main composes the whole program, adapters included
			}
			if strings.HasPrefix(d, module+"adapters") || strings.HasPrefix(d, module+"internal") {
				t.Errorf("%s depends on %s", pkg, d)
			}
		}
	}
}

// Every module, Tipbox's own and the examples the guide shows, keeps its
// SQL in the same place and embeds it the same way: a package migrations
// beside the module's code, with an FS holding sqlite/ and postgres/.
func TestModulesEmbedMigrationsAlike(t *testing.T) {
	t.Parallel()
	for _, parent := range []string{"modules", "examples"} {
		dirs, err := filepath.Glob(filepath.Join("..", "..", parent, "*", "migrations"))
		if err != nil || len(dirs) == 0 {
			t.Fatalf("no %s/*/migrations: %v", parent, err)
		}
		for _, dir := range dirs {
			src, err := os.ReadFile(filepath.Join(dir, "migrations.go"))
			if err != nil {
				t.Errorf("%s: %v", dir, err)
				continue
			}
			if !strings.Contains(string(src), "//go:embed sqlite/*.sql postgres/*.sql\nvar FS embed.FS") {
				t.Errorf("%s/migrations.go does not embed sqlite/*.sql postgres/*.sql as FS", dir)
			}
		}
	}
}
