// Command benchfmt reads `go test -bench` output on stdin and prints one
// markdown table per package: a row per benchmark, a column per metric
// (ns/op, req/s, p99-µs, hit-rate, ...). It is what `make bench` shows.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

type row struct {
	name    string
	metrics map[string]string
}

type table struct {
	pkg   string
	units []string
	rows  []row
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchfmt:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	var tables []*table
	var cur *table
	var header []string
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "goos:"), strings.HasPrefix(line, "goarch:"), strings.HasPrefix(line, "cpu:"):
			if len(tables) == 0 {
				header = append(header, line)
			}
		case strings.HasPrefix(line, "pkg: "):
			cur = &table{pkg: strings.TrimPrefix(line, "pkg: ")}
			tables = append(tables, cur)
		case strings.HasPrefix(line, "Benchmark") && cur != nil:
			f := strings.Fields(line)
			if len(f) < 4 || len(f)%2 != 0 || !numeric(f[1]) {
				continue // not a result line (e.g. a log line interleaved)
			}
			ok := true
			for i := 2; i < len(f); i += 2 {
				ok = ok && numeric(f[i])
			}
			if !ok {
				continue
			}
			r := row{name: strings.TrimPrefix(f[0], "Benchmark"), metrics: map[string]string{}}
			for i := 2; i+1 < len(f); i += 2 {
				unit := f[i+1]
				if _, ok := r.metrics[unit]; !ok && !contains(cur.units, unit) {
					cur.units = append(cur.units, unit)
				}
				r.metrics[unit] = f[i]
			}
			cur.rows = append(cur.rows, r)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for _, h := range header {
		fmt.Fprintln(out, h)
	}
	for _, t := range tables {
		if len(t.rows) == 0 {
			continue
		}
		fmt.Fprintf(out, "\n### %s\n\n| benchmark | %s |\n|---|%s\n", t.pkg, strings.Join(t.units, " | "), strings.Repeat("---:|", len(t.units)))
		for _, r := range t.rows {
			cells := make([]string, len(t.units))
			for i, u := range t.units {
				cells[i] = r.metrics[u]
			}
			fmt.Fprintf(out, "| %s | %s |\n", r.name, strings.Join(cells, " | "))
		}
	}
	return nil
}

func numeric(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
