package sqlite

import (
	"strings"
	"testing"
)

func TestParseDSN(t *testing.T) {
	t.Parallel()
	all := "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(0)&_txlock=immediate"
	for _, tc := range []struct {
		in, dsn, path string
		memory        bool
	}{
		{"file:./data/tipbox.db", "file:./data/tipbox.db?" + all, "./data/tipbox.db", false},
		{"/abs/x.db", "/abs/x.db?" + all, "/abs/x.db", false},
		{"file:///abs/x.db", "file:///abs/x.db?" + all, "/abs/x.db", false},
		{"file:my%20dir/x.db", "file:my%20dir/x.db?" + all, "my dir/x.db", false},
		{":memory:", ":memory:?" + all, "", true},
		{"file:t?mode=memory&cache=shared", "file:t?mode=memory&cache=shared&" + all, "", true},
		{ // pragmas the DSN sets are kept and not repeated; the rest are added
			"file:x.db?_pragma=BUSY_TIMEOUT(100)&_pragma=journal_mode=DELETE&_txlock=exclusive",
			"file:x.db?_pragma=BUSY_TIMEOUT(100)&_pragma=journal_mode=DELETE&_txlock=exclusive&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(0)",
			"x.db", false,
		},
	} {
		got, err := parseDSN(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got.dsn != tc.dsn || got.path != tc.path || got.memory != tc.memory {
			t.Errorf("%s:\n got %+v\nwant {dsn:%s path:%s memory:%v}", tc.in, got, tc.dsn, tc.path, tc.memory)
		}
	}
}

func TestParseDSNRefusesDeferredTransactions(t *testing.T) {
	t.Parallel()
	_, err := parseDSN("file:x.db?_txlock=deferred")
	if err == nil || !strings.Contains(err.Error(), "_txlock") {
		t.Errorf("err = %v, want _txlock refused", err)
	}
}
