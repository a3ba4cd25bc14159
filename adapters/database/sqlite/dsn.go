package sqlite

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// defaultPragmas are added to a DSN that does not set the same pragma.
// busy_timeout makes a writer wait for the write lock instead of failing
// with SQLITE_BUSY; WAL lets readers run while one writer writes; NORMAL
// sync is safe with WAL (a power loss may lose the last commits, never
// corrupt); foreign keys are off by default in SQLite; no commit
// checkpoints the WAL (the pool's checkpointer does, checkpoint.go).
var defaultPragmas = []struct{ name, value string }{
	{"busy_timeout", "5000"},
	{"journal_mode", "WAL"},
	{"foreign_keys", "1"},
	{"synchronous", "NORMAL"},
	{"wal_autocheckpoint", "0"},
}

// dsnInfo is what Open needs to know about a DSN beyond handing it on.
type dsnInfo struct {
	dsn    string // with the defaults added
	path   string // file path, "" for an in-memory database
	memory bool
	// checkpointer: the pool checkpoints the WAL itself (a file database
	// whose DSN leaves wal_autocheckpoint alone).
	checkpointer bool
}

// parseDSN adds the default pragmas and _txlock=immediate to dsn.
//
// Pragmas go in the DSN, not through db.Exec, because the driver runs them
// on every new connection of the pool; an Exec reaches one connection only.
//
// _txlock=immediate makes every read-write transaction take the write lock
// at BEGIN, where busy_timeout applies. A deferred transaction that reads
// and then writes fails at once with SQLITE_BUSY when another connection
// wrote in between (busy_timeout cannot help: waiting would not make its
// snapshot current), which breaks read-modify-write transactions under
// concurrency. A DSN asking for deferred is therefore refused.
func parseDSN(dsn string) (dsnInfo, error) {
	base, rawQuery, _ := strings.Cut(dsn, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return dsnInfo{}, fmt.Errorf("dsn query: %w", err)
	}
	set := make(map[string]bool)
	for _, p := range q["_pragma"] {
		name, _, _ := strings.Cut(p, "(")
		name, _, _ = strings.Cut(name, "=")
		set[strings.ToLower(strings.TrimSpace(name))] = true
	}
	var add []string
	for _, p := range defaultPragmas {
		if !set[p.name] {
			add = append(add, "_pragma="+p.name+"("+p.value+")")
		}
	}
	switch lock := strings.ToLower(q.Get("_txlock")); lock {
	case "":
		add = append(add, "_txlock=immediate")
	case "immediate", "exclusive":
	default:
		return dsnInfo{}, fmt.Errorf("dsn: _txlock=%s: only immediate or exclusive keep read-modify-write transactions from failing with SQLITE_BUSY", lock)
	}

	info := dsnInfo{dsn: base}
	if query := strings.Join(append(nonEmpty(rawQuery), add...), "&"); query != "" {
		info.dsn += "?" + query
	}

	p := strings.TrimPrefix(base, "file:")
	if strings.HasPrefix(p, "//") { // file://host/path: only an empty or localhost host is valid
		p = strings.TrimPrefix(strings.TrimPrefix(p, "//"), "localhost")
	}
	if unescaped, err := url.PathUnescape(p); err == nil && strings.HasPrefix(base, "file:") {
		p = unescaped
	}
	info.memory = p == "" || p == ":memory:" || q.Get("mode") == "memory" || q.Get("vfs") == "memdb"
	if !info.memory {
		info.path = p
		info.checkpointer = !set["wal_autocheckpoint"]
	}
	return info, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// ensureDir creates the directory that will hold the database file.
func ensureDir(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	return nil
}
