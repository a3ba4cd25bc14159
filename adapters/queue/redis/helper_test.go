package redis

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
)

// The cross-process tests re-run this test binary as a worker process
// (TIPBOX_QUEUE_HELPER=worker), so they depend on no cmd/ program.
func TestMain(m *testing.M) {
	if os.Getenv("TIPBOX_QUEUE_HELPER") == "worker" {
		os.Exit(helperWorker())
	}
	os.Exit(m.Run())
}

// helperQueueConfig is the queue config shared by the test and its workers.
func helperQueueConfig() queue.Config {
	q := queuetest.Config()
	q.Queues = []string{"jobs"}
	return q
}

// helperWorker runs one worker until SIGTERM: each job sleeps WORK, then
// records its id in the set PREFIX+"done" and counts the run in
// PREFIX+"runs". It prints "ready" once consuming.
func helperWorker() int {
	env := func(k string) string { return os.Getenv("TIPBOX_QUEUE_HELPER_" + k) }
	work, _ := time.ParseDuration(env("WORK"))
	minIdle, _ := time.ParseDuration(env("MIN_IDLE"))
	c := goredis.NewClient(&goredis.Options{Addr: env("ADDR")})
	defer c.Close()
	cfg := Config{Prefix: env("PREFIX"), Consumer: env("CONSUMER"), MinIdleTime: minIdle, ClaimInterval: 100 * time.Millisecond}
	cfg.SetDefaults()
	b, err := New(cfg, helperQueueConfig(), c, queuetest.Logger(), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	done := cfg.Prefix + "done"
	runs := cfg.Prefix + "runs"
	w, err := queue.NewWorker(helperQueueConfig(), b, []queue.Handler{{Queue: "jobs", Handle: func(ctx context.Context, j *queue.Job) error {
		time.Sleep(work) // the job's work
		_, err := c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.SAdd(ctx, done, j.ID)
			p.Incr(ctx, runs)
			return nil
		})
		return err
	}}}, queuetest.Logger(), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	if err := w.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println("ready")
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := w.Stop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "stop:", err)
		return 1
	}
	if err := b.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close:", err)
		return 1
	}
	return 0
}

// workerProcess is a helper worker started by a test.
type workerProcess struct {
	cmd  *exec.Cmd
	done chan error
}

// startWorker starts a helper worker and waits for its "ready".
func startWorker(t *testing.T, addr, prefix, consumer string, work, minIdle time.Duration) *workerProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TIPBOX_QUEUE_HELPER=worker",
		"TIPBOX_QUEUE_HELPER_ADDR="+addr, "TIPBOX_QUEUE_HELPER_PREFIX="+prefix,
		"TIPBOX_QUEUE_HELPER_CONSUMER="+consumer, "TIPBOX_QUEUE_HELPER_WORK="+work.String(),
		"TIPBOX_QUEUE_HELPER_MIN_IDLE="+minIdle.String())
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &workerProcess{cmd: cmd, done: make(chan error, 1)}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "ready" && !ok {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-ready
	})
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("worker %s exited before ready", consumer)
		}
		ready <- true // for the cleanup
	case <-time.After(20 * time.Second):
		t.Fatalf("worker %s not ready within 20s", consumer)
	}
	return p
}
