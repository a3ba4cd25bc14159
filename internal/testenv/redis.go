package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SharedRedisAddr is the development machine's Redis. Tests must not flush,
// stop or reconfigure it: use Prefix for keys and delete what you write.
const SharedRedisAddr = "127.0.0.1:6379"

// RedisAddr returns the shared Redis address, or skips (fails under CI)
// when nothing answers there.
func RedisAddr(t testing.TB) string {
	t.Helper()
	if v := os.Getenv("TIPBOX_TEST_REDIS_ADDR"); v != "" {
		return v
	}
	if !reachable(SharedRedisAddr) {
		Unavailable(t, "redis at %s", SharedRedisAddr)
	}
	return SharedRedisAddr
}

// RedisServer is a redis-server process owned by one test. It listens on
// 127.0.0.1 on a port picked at start and kept across Kill/Start, keeps
// nothing on disk, and is stopped when the test ends.
type RedisServer struct {
	t    testing.TB
	port int
	args []string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// StartRedis starts a fresh redis-server for this test. Extra arguments
// are passed to redis-server as given (e.g. "--cluster-enabled", "yes").
func StartRedis(t testing.TB, extra ...string) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Unavailable(t, "redis-server binary not on PATH")
	}
	_ = bin
	s := &RedisServer{t: t, args: extra}
	var lastErr error
	for range 5 {
		s.port = FreePort(t)
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.stop)
			return s
		}
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return nil
}

// Addr is host:port of the server.
func (s *RedisServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the server's TCP port.
func (s *RedisServer) Port() int { return s.port }

// Kill sends SIGKILL and waits for the process to exit.
func (s *RedisServer) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Freeze stops the server with SIGSTOP: its connections stay open and
// every command waits, as behind a network partition that drops nothing.
// Thaw undoes it; the test's cleanup kills a frozen server too.
func (s *RedisServer) Freeze() { s.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server (SIGCONT).
func (s *RedisServer) Thaw() { s.signal(syscall.SIGCONT) }

func (s *RedisServer) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(sig)
	}
}

// Start restarts a killed server on the same port (empty: nothing persists).
func (s *RedisServer) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("restart redis-server on %d: %v", s.port, err)
	}
}

func (s *RedisServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("already running")
	}
	dir, err := os.MkdirTemp("", "tipbox-redis-*")
	if err != nil {
		return err
	}
	args := append([]string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--daemonize", "no", "--loglevel", "warning",
	}, s.args...)
	cmd := exec.Command("redis-server", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	if !waitReachable(s.Addr(), 5*time.Second) || !redisPing(s.Addr()) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("redis-server on port %d did not answer", s.port)
	}
	s.cmd = cmd
	return nil
}

func (s *RedisServer) stop() { s.Kill() }

// redisPing speaks just enough RESP to check that a server answers PONG.
func redisPing(addr string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("PING\r\n"))
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil && strings.HasPrefix(line, "+PONG") {
				return true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}
