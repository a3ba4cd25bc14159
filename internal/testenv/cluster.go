package testenv

import (
	"bufio"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// StartRedisCluster starts masters fresh redis-server processes in cluster
// mode (no replicas), joins them with `redis-cli --cluster create` and waits
// until every node reports cluster_state:ok. It returns their addresses.
// The processes are killed when the test ends.
func StartRedisCluster(t testing.TB, masters int) []string {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		Unavailable(t, "redis-cli binary not on PATH")
	}
	addrs := make([]string, 0, masters)
	for range masters {
		s := StartRedis(t, "--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")
		addrs = append(addrs, s.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, a := range addrs {
		for !clusterOK(a) {
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s not ok within 20s", a)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return addrs
}

func clusterOK(addr string) bool {
	host, port, _ := net.SplitHostPort(addr)
	if _, err := strconv.Atoi(port); err != nil {
		return false
	}
	out, err := exec.Command("redis-cli", "-h", host, "-p", port, "cluster", "info").Output()
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "cluster_state:ok" {
			return true
		}
	}
	return false
}
