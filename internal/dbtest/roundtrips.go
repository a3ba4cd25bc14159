package dbtest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tipbox/tipbox/adapters/database/postgres"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/internal/testenv"
)

// RoundTrips counts the round trips clients make to a PostgreSQL server:
// the messages after which a client waits for the server's answer (Sync,
// which ends an extended-protocol exchange, and Query, a simple one). A
// pool's session checks (pings) count too: they are round trips.
type RoundTrips struct{ n atomic.Int64 }

// Count returns the round trips so far.
func (r *RoundTrips) Count() int64 { return r.n.Load() }

// OpenCountingPostgres is Open for postgres, with the pool reaching the
// server through a proxy on loopback that counts the round trips of every
// connection. TLS is off between the pool and the proxy, so that the
// proxy can read the protocol.
func OpenCountingPostgres(t testing.TB, sets ...database.Migrations) (*database.DB, *RoundTrips) {
	t.Helper()
	conf, err := pgx.ParseConfig(testenv.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	rt := &RoundTrips{}
	upstream := net.JoinHostPort(conf.Host, strconv.Itoa(int(conf.Port)))
	if conf.Host != "" && conf.Host[0] == '/' { // a Unix socket directory
		upstream = ""
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, c)
	}
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			var server net.Conn
			if upstream == "" {
				server, err = net.Dial("unix", conf.Host+"/.s.PGSQL."+strconv.Itoa(int(conf.Port)))
			} else {
				server, err = net.Dial("tcp", upstream)
			}
			if err != nil {
				client.Close()
				continue
			}
			track(client)
			track(server)
			wg.Go(func() { _, _ = io.Copy(client, server); client.Close() })
			wg.Go(func() { _ = rt.relay(server, client); server.Close() })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	conf.Host, conf.Port = "127.0.0.1", uint16(ln.Addr().(*net.TCPAddr).Port)
	conf.TLSConfig, conf.Fallbacks = nil, nil
	db := &database.DB{DB: stdlib.OpenDB(*conf), Dialect: postgres.Dialect{}}
	t.Cleanup(func() { db.Close() })
	if err := database.Migrate(t.Context(), db, sets, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("dbtest: migrate: %v", err)
	}
	return db, rt
}

// Protocol codes of the untyped messages a client may send first.
const (
	sslRequest    = 80877103
	gssEncRequest = 80877104
)

// relay copies a client's messages to the server, counting Sync and
// Query. The first messages (startup, and any encryption request before
// it) have no type byte.
func (r *RoundTrips) relay(dst io.Writer, src io.Reader) error {
	in := bufio.NewReader(src)
	var head [5]byte
	for startup := true; startup; {
		if _, err := io.ReadFull(in, head[:4]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(head[:4])
		if n < 8 {
			return errors.New("dbtest: bad startup message")
		}
		body := make([]byte, n-4)
		if _, err := io.ReadFull(in, body); err != nil {
			return err
		}
		code := binary.BigEndian.Uint32(body[:4])
		startup = code == sslRequest || code == gssEncRequest
		if _, err := dst.Write(append(head[:4:4], body...)); err != nil {
			return err
		}
	}
	for {
		if _, err := io.ReadFull(in, head[:]); err != nil {
			return err
		}
		if head[0] == 'S' || head[0] == 'Q' {
			r.n.Add(1)
		}
		n := binary.BigEndian.Uint32(head[1:])
		if n < 4 {
			return errors.New("dbtest: bad message length")
		}
		if _, err := dst.Write(head[:]); err != nil {
			return err
		}
		if _, err := io.CopyN(dst, in, int64(n-4)); err != nil {
			return err
		}
	}
}
