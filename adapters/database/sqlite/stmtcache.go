package sqlite

import (
	"container/list"
	"context"
	"database/sql/driver"
	"strings"
)

// stmtCacheSize is how many prepared statements a connection keeps.
const stmtCacheSize = 128

// stmtCache keeps a connection's most recently used statements prepared,
// by SQL text. database/sql prepares nothing for a plain query: without
// it, every call parsed and planned its SQL again, and SQLite's parser
// (compiled to Go in modernc.org/sqlite) took a fifth of the embedded
// API's CPU at 500 badge grants a second (docs/benchmarks.md, "SQLite
// statements kept prepared").
//
// A statement serves one call at a time: while rows of it are open (a
// query inside a transaction may run while another's rows are still
// read), a call with the same text prepares a statement of its own, as
// without the cache. database/sql uses a connection from one goroutine at
// a time and closes rows under the connection's lock, so the cache needs
// no lock. A schema change after a statement was prepared is handled by
// SQLite, which prepares it again on its next step. Multi-statement
// scripts (migrations) are never cached: the driver re-parses those on
// every run anyway.
type stmtCache struct {
	order  *list.List // of *cachedStmt, most recently used first
	byText map[string]*list.Element
}

type preparedStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

type cachedStmt struct {
	text string
	st   preparedStmt
	busy bool // rows of it are open
}

func newStmtCache() *stmtCache {
	return &stmtCache{order: list.New(), byText: map[string]*list.Element{}}
}

// get returns the idle statement for query, preparing and keeping it when
// there is none, or nil when query must run uncached (a script, a driver
// statement without the context API, or its statement busy).
func (sc *stmtCache) get(ctx context.Context, conn driver.ConnPrepareContext, query string) (*cachedStmt, error) {
	if e, ok := sc.byText[query]; ok {
		cs := e.Value.(*cachedStmt)
		if cs.busy {
			return nil, nil
		}
		sc.order.MoveToFront(e)
		return cs, nil
	}
	if isScript(query) {
		return nil, nil
	}
	st, err := conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	ps, ok := st.(preparedStmt)
	if !ok {
		_ = st.Close()
		return nil, nil
	}
	cs := &cachedStmt{text: query, st: ps}
	sc.byText[query] = sc.order.PushFront(cs)
	sc.evict()
	return cs, nil
}

// evict closes the least recently used idle statements beyond the size.
func (sc *stmtCache) evict() {
	for e := sc.order.Back(); e != nil && sc.order.Len() > stmtCacheSize; {
		prev := e.Prev()
		if cs := e.Value.(*cachedStmt); !cs.busy {
			sc.order.Remove(e)
			delete(sc.byText, cs.text)
			_ = cs.st.Close()
		}
		e = prev
	}
}

// close closes every statement.
func (sc *stmtCache) close() {
	for e := sc.order.Front(); e != nil; e = e.Next() {
		_ = e.Value.(*cachedStmt).st.Close()
	}
	sc.order.Init()
	clear(sc.byText)
}

// isScript reports whether query holds more than one statement.
func isScript(query string) bool {
	return strings.Contains(strings.TrimRight(query, " \t\r\n;"), ";")
}

// exec runs query through its cached statement, or uncached.
func (sc *stmtCache) exec(ctx context.Context, conn execPreparer, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := sc.get(ctx, conn, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return conn.ExecContext(ctx, query, args)
	}
	cs.busy = true
	defer func() { cs.busy = false }()
	return cs.st.ExecContext(ctx, args)
}

// query runs query through its cached statement, or uncached; the
// statement is busy until the rows are closed.
func (sc *stmtCache) query(ctx context.Context, conn queryPreparer, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, err := sc.get(ctx, conn, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return conn.QueryContext(ctx, query, args)
	}
	cs.busy = true
	rows, err := cs.st.QueryContext(ctx, args)
	if err != nil {
		cs.busy = false
		return nil, err
	}
	return &cachedRows{Rows: rows, cs: cs}, nil
}

type execPreparer interface {
	driver.ConnPrepareContext
	driver.ExecerContext
}

type queryPreparer interface {
	driver.ConnPrepareContext
	driver.QueryerContext
}

// cachedRows frees its statement for the next call when closed (the
// driver resets a reused statement then, rather than finalizing it).
type cachedRows struct {
	driver.Rows
	cs *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.cs.busy = false
	return err
}
