package redis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/core/queue"
)

// searchFinished searches a finished state's list ("<ms>|<id>", newest
// first) in chunks: the list's elements by index, then their records in
// one HMGET. Both replies are read as raw RESP into buffers kept from one
// search to the next, and matched in place, with no allocation per record
// (the client's parsed replies cost more than Redis itself). A record is
// decoded only when its raw text could hold a hit (see mayMatch), and the
// hit confirmed on the decoded fields. The chunks are read ahead of the
// matching, their records on two connections at once, so Redis serves one
// chunk while the reply of another is read and this one is matched. The
// cursor is the last element examined.
func (b *Backend) searchFinished(ctx context.Context, q string, k keys, key string, query queue.JobQuery) (queue.JobPage, error) {
	m := queue.NewMatcher(query.Search)
	var page queue.JobPage
	last := query.Cursor
	var start int64 // index of the first element not examined
	if last != "" {
		ms, _, ok := strings.Cut(last, "|")
		if _, err := strconv.ParseInt(ms, 10, 64); !ok || err != nil {
			return page, fmt.Errorf("%w: cursor %q", queue.ErrBadQuery, last)
		}
		var err error
		if start, err = b.locateFinished(ctx, key, last); err != nil {
			return page, err
		}
	}
	// The chunks take turns: one is matched while the others are read.
	// The free channel has room for all, so a chunk is always put back
	// without waiting; once the reader has stopped and the chunks' reads
	// are done, they are kept with their buffers for the next search
	// (about 1 MB each).
	free := make(chan *finishedChunk, searchChunks)
	for range searchChunks {
		free <- b.searchChunk()
	}
	chunks := make(chan *finishedChunk, searchChunks)
	errc := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		defer close(chunks)
		errc <- b.readFinished(ctx, stop, k, key, start, last, free, chunks)
	}()
	var cur *finishedChunk // the chunk being matched
	defer func() {
		// An answer before the list's end stops the reader; the reads it
		// started finish (a chunk's, a few ms), so their connections go
		// back to the pool whole rather than closed mid-reply.
		close(stop)
		if cur != nil {
			free <- cur
		}
		go b.recycleChunks(chunks, free)
	}()
	for cur = range chunks {
		c := cur
		<-c.ready
		if c.err != nil {
			return page, c.err
		}
		for i, data := range c.recs {
			if query.Budget > 0 && page.Scanned >= query.Budget {
				if i > 0 {
					last = string(c.els[i-1])
				}
				page.Partial, page.Next = true, last
				return page, nil
			}
			if data == nil {
				continue // gone meanwhile
			}
			page.Scanned++
			id := c.ids[i]
			if !mayMatch(m, id, data) {
				continue
			}
			j := b.decodeListed(q, string(id), string(data))
			if !m.Job(j) {
				continue
			}
			page.Jobs = append(page.Jobs, j)
			if len(page.Jobs) == query.Limit {
				if !c.end || i < len(c.recs)-1 {
					page.Next = string(c.els[i])
				}
				return page, nil
			}
		}
		last = string(c.els[len(c.els)-1])
		if !c.end && !query.Until.IsZero() && time.Now().After(query.Until) {
			page.Partial, page.Next = true, last
			return page, nil
		}
		free <- c
		cur = nil
	}
	return page, <-errc
}

// mayMatch reports whether a job may match m, from its id and raw record:
// false only when it cannot. A record as encodeRecord writes it (payload
// last) holds its name, error and payload as they decode, unless a string
// was escaped (a quote, a control character, <, > or &: then the record
// holds a backslash before its payload), so a word absent from the raw
// text is absent from them too. Text that is not a record is always
// decoded (see decodeListed).
func mayMatch(m queue.Matcher, id, data []byte) bool {
	if m.Bytes(data) || m.Bytes(id) || !bytes.HasPrefix(data, []byte(`{"state":`)) {
		return true
	}
	if bytes.IndexByte(data, '\\') < 0 {
		return false
	}
	p := bytes.Index(data, []byte(`,"payload":`))
	return p < 0 || bytes.IndexByte(data[:p], '\\') >= 0
}

// searchChunk returns a chunk for a search, with the buffers of an earlier
// search when there is one (growing them again for each search cost more
// than matching).
func (b *Backend) searchChunk() *finishedChunk {
	select {
	case c := <-b.chunks:
		return c
	default:
		return new(finishedChunk)
	}
}

// recycleChunks keeps a search's chunks for the next search, once its
// reader has stopped (closed chunks); those beyond the kept few are
// dropped.
func (b *Backend) recycleChunks(chunks <-chan *finishedChunk, free chan *finishedChunk) {
	keep := func(c *finishedChunk) {
		select {
		case b.chunks <- c:
		default:
		}
	}
	for c := range chunks {
		<-c.ready
		keep(c)
	}
	for {
		select {
		case c := <-free:
			keep(c)
		default:
			return
		}
	}
}

// finishedChunk is a run of a finished list's elements, their IDs and
// records (nil when gone), each a slice of the raw replies it keeps; end
// marks the list's last run. The records are read after the chunk is
// sent: ready is closed when they are there, or err says why not.
type finishedChunk struct {
	els, ids, recs [][]byte
	end            bool
	list, hash     rawReply // the raw LRANGE and HMGET replies
	args           []any
	ready          chan struct{}
	err            error
}

// rawReply collects a raw RESP reply, reused from one reply to the next.
// The client copies each bulk string into it through ReadFrom with the
// string's exact length (io.CopyN), which reads it in place.
type rawReply struct{ b []byte }

func (r *rawReply) Write(p []byte) (int, error) {
	r.b = append(r.b, p...)
	return len(p), nil
}

// grow makes room for n more bytes, doubling the buffer.
func (r *rawReply) grow(n int) {
	if cap(r.b)-len(r.b) < n {
		b := make([]byte, len(r.b), max(2*cap(r.b), len(r.b)+n, 4096))
		copy(b, r.b)
		r.b = b
	}
}

func (r *rawReply) ReadFrom(src io.Reader) (int64, error) {
	if l, ok := src.(*io.LimitedReader); ok {
		n := int(l.N)
		r.grow(n)
		got, err := io.ReadFull(l.R, r.b[len(r.b):len(r.b)+n])
		r.b = r.b[:len(r.b)+got]
		l.N -= int64(got)
		return int64(got), err
	}
	var total int64
	for {
		r.grow(512)
		got, err := src.Read(r.b[len(r.b):cap(r.b)])
		r.b = r.b[:len(r.b)+got]
		total += int64(got)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// searchChunk is how many jobs a search of a finished state reads per
// LRANGE + HMGET.
const searchChunk = 2000

// searchChunks is how many chunks a search holds (the one matched and
// those read ahead), and searchHashReads how many of their HMGETs are
// under way at once, each on its own connection: while Redis answers one,
// the other's reply is read and split here.
const (
	searchChunks    = 4
	searchHashReads = 2
)

// readFinished sends the finished list's chunks from index start on, until
// its end or stop is closed, filling the chunks it takes from free: their
// elements in order (one LRANGE at a time), and for each its records
// (HMGET), read by another goroutine, up to searchHashReads at once, after
// the chunk is sent. last is
// the element before start ("" at the head): each chunk also reads the
// element before it, to notice that the list moved meanwhile (jobs
// finished or were removed) and find its place again, so a moving list
// costs no job and few repeats.
func (b *Backend) readFinished(ctx context.Context, stop <-chan struct{}, k keys, key string, start int64, last string, free chan *finishedChunk, out chan<- *finishedChunk) error {
	check := false       // whether last is expected just before start
	var c *finishedChunk // the chunk being filled
	defer func() {
		if c != nil {
			free <- c
		}
	}()
	reads := make(chan struct{}, searchHashReads)
	for {
		if c == nil {
			select {
			case c = <-free:
			case <-stop:
				return nil
			}
			select {
			case <-stop:
				return nil
			default:
			}
		}
		from := start
		if check && from > 0 {
			from--
		}
		c.list.b = c.list.b[:0]
		err := b.client.Process(ctx, goredis.NewRawWriteToCmd(ctx, &c.list, "lrange", key, from, from+searchChunk))
		if err != nil {
			return err
		}
		if c.els, err = respBulks(c.list.b, c.els[:0]); err != nil {
			return fmt.Errorf("lrange %s: %w", key, err)
		}
		els := c.els
		c.end = len(els) < searchChunk+1
		if from < start {
			i := indexElement(els, last)
			if i < 0 {
				if start, err = b.locateFinished(ctx, key, last); err != nil {
					return err
				}
				check = false
				continue
			}
			els = els[i+1:]
			start = from + int64(i) + 1
		}
		if len(els) == 0 {
			return nil
		}
		c.els = els
		c.ids = c.ids[:0]
		c.args = append(c.args[:0], "hmget", k.jobs)
		for _, el := range els {
			_, id, _ := bytes.Cut(el, []byte("|"))
			c.ids = append(c.ids, id)
			c.args = append(c.args, id)
		}
		// Once sent, the chunk is the matcher's: it may be back in the pool
		// and refilled by another search's reader. Take what the next
		// round needs from it first.
		end, n, lastEl := c.end, len(els), string(els[len(els)-1])
		c.ready, c.err = make(chan struct{}), nil
		reads <- struct{}{}
		go func(c *finishedChunk) {
			defer func() {
				<-reads
				close(c.ready)
			}()
			c.err = b.readRecords(ctx, k, c)
		}(c)
		// Whoever reads out (the matcher, or recycleChunks once it has
		// stopped) waits for the records, so this never blocks for good.
		out <- c
		c = nil
		if end {
			return nil
		}
		start += int64(n)
		last, check = lastEl, true
	}
}

// readRecords reads the records of c's IDs (c.args) into c.recs.
func (b *Backend) readRecords(ctx context.Context, k keys, c *finishedChunk) error {
	c.hash.b = c.hash.b[:0]
	if err := b.client.Process(ctx, goredis.NewRawWriteToCmd(ctx, &c.hash, c.args...)); err != nil {
		return err
	}
	var err error
	if c.recs, err = respBulks(c.hash.b, c.recs[:0]); err != nil {
		return fmt.Errorf("hmget %s: %w", k.jobs, err)
	}
	if len(c.recs) != len(c.ids) {
		return fmt.Errorf("hmget %s: %d records for %d ids", k.jobs, len(c.recs), len(c.ids))
	}
	return nil
}

// indexElement is the index of el in els, or -1.
func indexElement(els [][]byte, el string) int {
	for i, e := range els {
		if string(e) == el {
			return i
		}
	}
	return -1
}

// respBulks appends to out the elements of raw, one RESP2 or RESP3 reply
// that is an array of bulk strings, each a slice of raw (nil for a nil
// element). An error reply is returned as an error.
func respBulks(raw []byte, out [][]byte) ([][]byte, error) {
	n, rest, err := respLine(raw)
	if err != nil {
		return out, err
	}
	switch raw[0] {
	case '-', '!':
		return out, errors.New(string(bytes.TrimRight(raw[1:], "\r\n")))
	case '*':
	default:
		return out, fmt.Errorf("not an array reply: %q", raw[:min(len(raw), 20)])
	}
	for range n {
		if len(rest) == 0 {
			return out, errors.New("short reply")
		}
		switch rest[0] {
		case '_': // RESP3 null
			out = append(out, nil)
			rest = rest[min(3, len(rest)):]
		case '$':
			l, body, err := respLine(rest)
			if err != nil {
				return out, err
			}
			if l < 0 { // RESP2 null
				out = append(out, nil)
				rest = body
				continue
			}
			if l+2 > len(body) {
				return out, errors.New("short reply")
			}
			out = append(out, body[:l:l])
			rest = body[l+2:]
		default:
			return out, fmt.Errorf("not a bulk string: %q", rest[:min(len(rest), 20)])
		}
	}
	return out, nil
}

// respLine reads the integer of a RESP line ("*3\r\n", "$-1\r\n") and
// returns it with what follows the line.
func respLine(b []byte) (int, []byte, error) {
	i := bytes.Index(b, []byte("\r\n"))
	if i < 1 {
		return 0, nil, errors.New("short reply")
	}
	if b[0] == '-' || b[0] == '!' {
		return 0, b[i+2:], nil
	}
	digits, neg := b[1:i], false
	if digits[0] == '-' {
		digits, neg = digits[1:], true
	}
	if len(digits) == 0 || len(digits) > 18 {
		return 0, nil, fmt.Errorf("bad length %q", b[:i])
	}
	n := 0
	for _, d := range digits {
		if d < '0' || d > '9' {
			return 0, nil, fmt.Errorf("bad length %q", b[:i])
		}
		n = n*10 + int(d-'0')
	}
	if neg {
		n = -n
	}
	return n, b[i+2:], nil
}

// locateFinished is the index after the element el of a finished list:
// where it is, or where it would be when it left the list.
func (b *Backend) locateFinished(ctx context.Context, key, el string) (int64, error) {
	pos, err := b.client.LPos(ctx, key, el, goredis.LPosArgs{}).Result()
	switch {
	case err == nil:
		return pos + 1, nil
	case errors.Is(err, goredis.Nil):
		return b.finishedAfter(ctx, key, el)
	}
	return 0, err
}
