package redis

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
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
	switch os.Getenv("TIPBOX_QUEUE_HELPER") {
	case "worker":
		os.Exit(helperWorker())
	case "scheduler":
		os.Exit(helperScheduler())
	}
	os.Exit(m.Run())
}

// helperQueueConfig is the queue config shared by the test and its workers.
func helperQueueConfig() queue.Config {
	q := queuetest.Config()
	q.Queues = []string{"jobs"}
	q.Heartbeat = 100 * time.Millisecond
	q.Retention.Completed, q.Retention.Failed = 100000, 100000
	return q
}

// helperWorker runs one worker until SIGTERM. What a job does depends on
// its name:
//   - "crash": counts the delivery in PREFIX+"crashes", then SIGKILLs its
//     own process (an attempt that takes its worker down);
//   - "block": sets PREFIX+"blocked" and waits for its context; when it
//     ends, stores the Unix nanos in PREFIX+"cancelled-at";
//   - "flaky": fails its first attempt;
//   - anything else: sleeps WORK.
//
// Every run appends its attempt number to PREFIX+"att:"+id and counts in
// PREFIX+"runs"; a success adds the id to PREFIX+"done". It prints "ready"
// once consuming.
func helperWorker() int {
	env := func(k string) string { return os.Getenv("TIPBOX_QUEUE_HELPER_" + k) }
	work, _ := time.ParseDuration(env("WORK"))
	minIdle, _ := time.ParseDuration(env("MIN_IDLE"))
	c := goredis.NewClient(&goredis.Options{Addr: env("ADDR")})
	defer c.Close()
	cfg := Config{Prefix: env("PREFIX"), MinIdleTime: minIdle, ClaimInterval: 100 * time.Millisecond}
	cfg.SetDefaults()
	qc := helperQueueConfig()
	b, err := New(cfg, qc, c, queuetest.Logger(), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	p := cfg.Prefix
	w, err := queue.NewWorker(qc, b, []queue.Handler{{Queue: "jobs", Handle: func(ctx context.Context, j *queue.Job) error {
		bg := context.Background()
		_, err := c.TxPipelined(bg, func(pp goredis.Pipeliner) error {
			pp.RPush(bg, p+"att:"+j.ID, j.Attempt)
			pp.Incr(bg, p+"runs")
			return nil
		})
		if err != nil {
			return err
		}
		switch j.Name {
		case "crash":
			c.Incr(bg, p+"crashes")
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		case "block":
			c.Set(bg, p+"blocked", "1", 0)
			<-ctx.Done()
			c.Set(bg, p+"cancelled-at", time.Now().UnixNano(), 0)
			return ctx.Err()
		case "flaky":
			if j.Attempt == 1 {
				return errors.New("flaky first attempt")
			}
		default:
			time.Sleep(work) // the job's work
		}
		return c.SAdd(bg, p+"done", j.ID).Err()
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
	fmt.Println("ready", w.Consumer())
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

// helperScheduler runs one queue Scheduler (as every API and worker
// process does) until SIGTERM, and prints "ready".
func helperScheduler() int {
	env := func(k string) string { return os.Getenv("TIPBOX_QUEUE_HELPER_" + k) }
	c := goredis.NewClient(&goredis.Options{Addr: env("ADDR")})
	defer c.Close()
	cfg := Config{Prefix: env("PREFIX"), MinIdleTime: time.Second}
	cfg.SetDefaults()
	qc := helperQueueConfig()
	b, err := New(cfg, qc, c, queuetest.Logger(), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s := queue.NewScheduler(qc, b, nil, queuetest.Logger())
	s.Refresh = 200 * time.Millisecond
	if err := s.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("ready scheduler")
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		return 1
	}
	return 0
}

// workerProcess is a helper process started by a test. exit is closed
// when it has ended; err is then its exit status.
type workerProcess struct {
	cmd      *exec.Cmd
	consumer string
	exit     chan struct{}
	err      error
}

// wait waits for the process to end and returns its exit status.
func (p *workerProcess) wait() error {
	<-p.exit
	return p.err
}

// startWorker starts a helper worker and waits for its "ready". consumer
// "" leaves the name to the default (host, pid, random).
func startWorker(t *testing.T, addr, prefix, consumer string, work, minIdle time.Duration) *workerProcess {
	t.Helper()
	return startHelper(t, "worker", addr, prefix, consumer, work, minIdle)
}

// startHelper starts a helper process of a kind (worker, scheduler).
func startHelper(t *testing.T, kind, addr, prefix, consumer string, work, minIdle time.Duration) *workerProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TIPBOX_QUEUE_HELPER="+kind,
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
	p := &workerProcess{cmd: cmd, exit: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if name, found := strings.CutPrefix(strings.TrimSpace(sc.Text()), "ready "); found && !ok {
				ok = true
				ready <- name
			}
		}
		if !ok {
			ready <- ""
		}
		p.err = cmd.Wait()
		close(p.exit)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-p.exit:
		case <-time.After(10 * time.Second):
		}
	})
	select {
	case name := <-ready:
		if name == "" {
			t.Fatalf("worker %s exited before ready", consumer)
		}
		p.consumer = name
	case <-time.After(20 * time.Second):
		t.Fatalf("worker %s not ready within 20s", consumer)
	}
	return p
}

// exited reports whether the worker process has ended.
func (p *workerProcess) exited() bool {
	select {
	case <-p.exit:
		return true
	default:
		return false
	}
}

func getInt(c goredis.UniversalClient, key string) int64 {
	n, _ := strconv.ParseInt(c.Get(context.Background(), key).Val(), 10, 64)
	return n
}
