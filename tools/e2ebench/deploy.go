package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// binaries builds cmd/api and cmd/worker from the module at root into dir.
func binaries(root, dir string) error {
	for _, p := range []string{"api", "worker"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, p), "./cmd/"+p)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/%s: %v\n%s", p, err, out)
		}
	}
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the tipbox module")
	}
	return filepath.Dir(mod), nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// proc is one running program.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs bin in dir. Its output is kept in memory (shown when it
// exits early) and, when logFile is set, also written there.
func start(name, dir, bin, logFile string, env []string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out := &lockedBuffer{}
	var w io.Writer = out
	var file *os.File
	if logFile != "" {
		f, err := os.Create(logFile)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		file, w = f, io.MultiWriter(out, f)
	}
	cmd.Stdout, cmd.Stderr = w, w
	// The programs die with the tool, whatever ends it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		if file != nil {
			file.Close()
		}
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // returns once the output is copied
		if file != nil {
			file.Close()
		}
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM and waits for the exit (SIGKILL after 20 s).
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitReady polls url until 200.
func (p *proc) waitReady(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited early:\n%s", p.name, p.out.String())
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s: %s not ready within %s:\n%s", p.name, url, timeout, p.out.String())
}

// deployment is one profile running: the API (and a worker on the redis
// profiles) with the database and Redis keys it owns.
type deployment struct {
	profile   string
	bin, dir  string
	env       []string
	args      []string
	api       *proc
	worker    *proc
	base      string // http://addr of the API
	apiAdmin  string // http://addr of the API's admin listener (pprof, metrics)
	workAdmin string // the worker's
	db        *sql.DB
	ph        string // placeholder style of db: "$1" or "?"
	redisURL  string // the Redis of the redis profiles; empty on embedded
	cleanup   []func()
}

// deployOptions say where the shared services are.
type deployOptions struct {
	RedisURL    string // redis://127.0.0.1:6379/0
	PostgresDSN string // admin DSN; a database of its own is created there
	LogLevel    string
	Extra       []string // more TIPBOX_ variables for every program
	LogDir      string   // each program's output, as <profile>-<program>.log ("": kept in memory only)
}

// deploy starts profile ("embedded", "redis", "tiered": the redis profile
// with cache.driver tiered) from the binaries in bin.
func deploy(ctx context.Context, profile, bin string, o deployOptions) (*deployment, error) {
	d := &deployment{profile: profile, bin: bin}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			d.close()
		}
	}()
	dir, err := os.MkdirTemp("", "tipbox-e2ebench-*")
	if err != nil {
		return nil, err
	}
	d.dir = dir
	d.cleanup = append(d.cleanup, func() { os.RemoveAll(dir) })
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	d.base, d.apiAdmin = "http://"+addr, "http://"+admin
	d.env = []string{
		"TIPBOX_HTTP_ADDR=" + addr, "TIPBOX_HTTP_ADMIN_ADDR=" + admin,
		"TIPBOX_LOG_LEVEL=" + o.LogLevel,
		// One admin drives thousands of requests a second: a benchmark,
		// not a test of the rate limiter.
		"TIPBOX_HTTP_RATE_LIMIT_RPS=0",
	}
	switch profile {
	case "embedded":
		file := filepath.Join(dir, "tipbox.db")
		d.env = append(d.env, "TIPBOX_DATABASE_DSN=file:"+file)
		d.db, err = sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(5000)")
		d.ph = "?"
	case "redis", "tiered":
		d.args = []string{"--config", filepath.Join(root, "configs", "redis.yaml")}
		dsn, drop, cerr := createDatabase(ctx, o.PostgresDSN)
		if cerr != nil {
			return nil, cerr
		}
		d.cleanup = append(d.cleanup, drop)
		prefix := fmt.Sprintf("e2ebench:%d-%d:", os.Getpid(), time.Now().UnixNano())
		d.cleanup = append(d.cleanup, func() { deleteKeys(o.RedisURL, prefix) })
		d.env = append(d.env, "REDIS_URL="+o.RedisURL, "DATABASE_URL="+dsn,
			"TIPBOX_QUEUE_REDIS_PREFIX="+prefix+"queue:",
			"TIPBOX_CACHE_REDIS_PREFIX="+prefix+"cache:",
			"TIPBOX_CACHE_TIERED_PREFIX="+prefix+"cache:",
			"TIPBOX_CACHE_TIERED_CHANNEL="+prefix+"cache:invalidate",
			"TIPBOX_REALTIME_REDIS_CHANNEL_PREFIX="+prefix+"realtime:",
			"TIPBOX_HTTP_RATE_LIMIT_PREFIX="+prefix+"ratelimit:",
		)
		if profile == "tiered" {
			d.env = append(d.env, "TIPBOX_CACHE_DRIVER=tiered")
		} else {
			// The redis profile as it is asked for: the redis driver as
			// configs/redis.yaml sets it up, even if the file names another.
			d.env = append(d.env, "TIPBOX_CACHE_DRIVER=redis")
		}
		d.db, err = sql.Open("pgx", dsn)
		d.ph = "$1"
		d.redisURL = o.RedisURL
	default:
		return nil, fmt.Errorf("unknown profile %q (embedded, redis, tiered)", profile)
	}
	if err != nil {
		return nil, err
	}
	d.env = append(d.env, o.Extra...)
	d.api, err = start("api", dir, filepath.Join(bin, "api"), logFile(o.LogDir, profile, "api"), d.env, d.args...)
	if err != nil {
		return nil, err
	}
	if err := d.api.waitReady(d.base+"/readyz", 30*time.Second); err != nil {
		return nil, err
	}
	if profile != "embedded" {
		wa, err := freeAddr()
		if err != nil {
			return nil, err
		}
		d.workAdmin = "http://" + wa
		d.worker, err = start("worker", dir, filepath.Join(bin, "worker"), logFile(o.LogDir, profile, "worker"),
			append(d.env, "TIPBOX_WORKER_ADMIN_ADDR="+wa), d.args...)
		if err != nil {
			return nil, err
		}
		if err := d.worker.waitReady(d.workAdmin+"/readyz", 30*time.Second); err != nil {
			return nil, err
		}
	}
	ok = true
	return d, nil
}

// logFile is the file of a program's output under dir ("": none).
func logFile(dir, profile, program string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, profile+"-"+program+".log")
}

// token runs `api token` with the deployment's environment.
func (d *deployment) token(userID int64, role string) (string, error) {
	args := append([]string{"token", "--user", fmt.Sprint(userID)}, d.args...)
	if role != "" {
		args = append(args, "--role", role)
	}
	cmd := exec.Command(filepath.Join(d.bin, "api"), args...)
	cmd.Dir = d.dir
	cmd.Env = append(os.Environ(), d.env...)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("api token: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// close stops the programs, then drops the database and the Redis keys.
func (d *deployment) close() {
	for _, p := range []*proc{d.worker, d.api} {
		if p != nil {
			p.stop()
		}
	}
	if d.db != nil {
		d.db.Close()
	}
	for i := len(d.cleanup) - 1; i >= 0; i-- {
		d.cleanup[i]()
	}
}

// createDatabase makes a fresh database on the server of admin and returns
// its DSN and the function that drops it.
func createDatabase(ctx context.Context, admin string) (string, func(), error) {
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return "", nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	name := fmt.Sprintf("tipbox_e2ebench_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	if _, err := db.ExecContext(cctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("postgres at %s: create database: %w", admin, err)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "e2ebench: drop database %s: %v\n", name, err)
		}
		db.Close()
	}
	i := strings.LastIndex(admin, "/")
	rest := ""
	if q := strings.Index(admin[i:], "?"); q >= 0 {
		rest = admin[i+q:]
	}
	return admin[:i+1] + name + rest, drop, nil
}

// deleteKeys removes every key under prefix (a single Redis node).
func deleteKeys(url, prefix string) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			c.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		c.Unlink(ctx, batch...)
	}
}

// commandStats returns INFO commandstats of the deployment's Redis
// (command → calls and microseconds), nil without Redis.
func (d *deployment) commandStats() map[string][2]int64 {
	info, ok := d.redisInfo("commandstats")
	if !ok {
		return nil
	}
	out := map[string][2]int64{}
	for _, line := range strings.Split(info, "\n") {
		// cmdstat_evalsha:calls=5248,usec=790044,usec_per_call=150.54,...
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var calls, usec int64
		for _, f := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(f, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "calls":
				calls = n
			case "usec":
				usec = n
			}
		}
		out[strings.TrimPrefix(name, "cmdstat_")] = [2]int64{calls, usec}
	}
	return out
}

// writeCommandStats writes the commands between two commandStats, most
// Redis time first.
func writeCommandStats(file string, before, after map[string][2]int64) {
	type row struct {
		name        string
		calls, usec int64
	}
	var rows []row
	for name, a := range after {
		b := before[name]
		if a[0] > b[0] {
			rows = append(rows, row{name, a[0] - b[0], a[1] - b[1]})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].usec > rows[j].usec })
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-20s %10s %12s %10s\n", "command", "calls", "usec", "usec/call")
	for _, r := range rows {
		fmt.Fprintf(&sb, "%-20s %10d %12d %10.1f\n", r.name, r.calls, r.usec, float64(r.usec)/float64(r.calls))
	}
	_ = os.WriteFile(file, []byte(sb.String()), 0o644)
}

// redisInfo returns the run's Redis INFO section, false when there is no
// Redis or it does not answer within 5 s.
func (d *deployment) redisInfo(section string) (string, bool) {
	if d.redisURL == "" {
		return "", false
	}
	opt, err := redis.ParseURL(d.redisURL)
	if err != nil {
		return "", false
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := c.Info(ctx, section).Result()
	return info, err == nil
}
