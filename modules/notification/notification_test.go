package notification_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"testing"

	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/realtime"
	"github.com/tipbox/tipbox/internal/dbtest"
	"github.com/tipbox/tipbox/modules/notification"
	"github.com/tipbox/tipbox/modules/notification/migrations"
)

type pusher struct {
	mu   sync.Mutex
	got  []string
	fail bool
}

func (p *pusher) Publish(_ context.Context, userID int64, payload any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, _ := json.Marshal(payload)
	p.got = append(p.got, strconv.FormatInt(userID, 10)+" "+string(b))
	if p.fail {
		return errors.New("bus down")
	}
	return nil
}

func newStore(t *testing.T, backend string) *notification.Store {
	return notification.NewStore(dbtest.Open(t, backend, database.Migrations{Module: "notification", FS: migrations.FS}))
}

func job(id string, payload string) *queue.Job {
	return &queue.Job{ID: id, Queue: notification.Queue, Name: "NEW_BADGE", Payload: json.RawMessage(payload)}
}

func TestHandlerStoresOncePushesAlways(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		store := newStore(t, backend)
		p := &pusher{}
		h := notification.NewHandler(store, p, nil, slog.New(slog.DiscardHandler))
		ctx := t.Context()
		j := job("badge-7-1", `{"type":"NEW_BADGE","userId":7,"badgeId":1,"badgeName":"First Post","badgeIcon":"🎯"}`)
		for range 2 { // a redelivered job
			if err := h.Handle(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
		items, err := store.List(ctx, 7, 10, 0)
		if err != nil || len(items) != 1 {
			t.Fatalf("inbox %+v %v", items, err)
		}
		var frame map[string]any
		if err := json.Unmarshal([]byte(p.got[0][2:]), &frame); err != nil {
			t.Fatal(err)
		}
		if frame["type"] != "NEW_BADGE" || frame["userId"] != float64(7) || frame["badgeName"] != "First Post" ||
			frame["id"] != strconv.FormatInt(items[0].ID, 10) || frame["createdAt"] == nil || p.got[0] != p.got[1] {
			t.Fatalf("pushed %v", p.got)
		}
		// A failing push does not fail the job.
		p.fail = true
		if err := h.Handle(ctx, job("badge-7-2", `{"type":"NEW_BADGE","userId":7,"badgeId":2}`)); err != nil {
			t.Fatalf("push failure failed the job: %v", err)
		}
		// A payload without a user is dead-lettered at once.
		if err := h.Handle(ctx, job("bad", `{"type":"NEW_BADGE"}`)); !queue.IsPermanent(err) {
			t.Fatalf("bad payload: %v", err)
		}
		if err := h.Handle(ctx, job("bad2", `not json`)); !queue.IsPermanent(err) {
			t.Fatalf("bad payload: %v", err)
		}
	})
}

func TestInboxPagingAndRead(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		store := newStore(t, backend)
		ctx := t.Context()
		for i := range 5 {
			if _, _, err := store.Save(ctx, "j"+strconv.Itoa(i), 3, "NEW_BADGE", map[string]json.RawMessage{"n": json.RawMessage(strconv.Itoa(i))}, nil); err != nil {
				t.Fatal(err)
			}
		}
		_, _, _ = store.Save(ctx, "other", 4, "NEW_BADGE", nil, nil)
		page1, _ := store.List(ctx, 3, 2, 0)
		page2, _ := store.List(ctx, 3, 2, page1[1].ID)
		page3, _ := store.List(ctx, 3, 2, page2[1].ID)
		if len(page1) != 2 || len(page2) != 2 || len(page3) != 1 || page1[0].ID <= page1[1].ID || page1[1].ID <= page2[0].ID {
			t.Fatalf("pages %v %v %v", page1, page2, page3)
		}
		if string(page1[0].Data["n"]) != "4" {
			t.Fatalf("newest first: %s", page1[0].Data["n"])
		}
		n, err := store.MarkRead(ctx, 3, page3[0].ID)
		if err != nil || n.ReadAt == nil {
			t.Fatalf("mark read: %+v %v", n, err)
		}
		again, _ := store.MarkRead(ctx, 3, page3[0].ID)
		if !again.ReadAt.Equal(*n.ReadAt) {
			t.Fatal("a second mark-read moved readAt")
		}
		if _, err := store.MarkRead(ctx, 4, page3[0].ID); !errors.Is(err, notification.ErrNotFound) {
			t.Fatalf("another user's notification: %v", err)
		}
	})
}

// A batch is stored and pushed as its jobs would be one by one: a bad
// payload fails alone, a redelivered job stores nothing twice, and a row
// the database refuses (PostgreSQL takes no NUL in text; SQLite does)
// fails only its own job, the others handled on their own.
func TestHandleBatchFailsOnlyTheBadJob(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		store := newStore(t, backend)
		p := &pusher{}
		h := notification.NewHandler(store, p, nil, slog.New(slog.DiscardHandler))
		ctx := t.Context()
		again := job("badge-1-1", `{"type":"NEW_BADGE","userId":1,"badgeId":1}`)
		if err := h.Handle(ctx, again); err != nil {
			t.Fatal(err)
		}
		jobs := []*queue.Job{
			again,
			job("badge-2-1", `{"type":"NEW_BADGE","userId":2,"badgeId":1}`),
			job("no-user", `{"type":"NEW_BADGE"}`),
			job("nul-3", `{"type":"NEW_\u0000BADGE","userId":3}`),
			job("badge-4-1", `{"type":"NEW_BADGE","userId":4,"badgeId":1}`),
		}
		errs := h.HandleBatch(ctx, jobs)
		if errs[0] != nil || errs[1] != nil || errs[4] != nil {
			t.Fatalf("good jobs failed: %v", errs)
		}
		if !queue.IsPermanent(errs[2]) {
			t.Fatalf("bad payload: %v", errs[2])
		}
		if refused := backend == "postgres"; (errs[3] != nil) != refused || queue.IsPermanent(errs[3]) {
			t.Fatalf("NUL in the type on %s: %v", backend, errs[3])
		}
		for _, user := range []int64{1, 2, 4} {
			if items, err := store.List(ctx, user, 10, 0); err != nil || len(items) != 1 {
				t.Fatalf("user %d's inbox: %+v %v", user, items, err)
			}
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		pushed := map[string]int{}
		for _, g := range p.got {
			pushed[g[:1]]++
		}
		want3 := 1
		if backend == "postgres" {
			want3 = 0
		}
		if pushed["1"] != 2 || pushed["2"] != 1 || pushed["4"] != 1 || pushed["3"] != want3 {
			t.Fatalf("pushes per user %v", pushed)
		}
	})
}

// batchPusher takes a batch's frames in one call.
type batchPusher struct {
	pusher
	batches [][]realtime.Event
}

func (p *batchPusher) PublishBatch(_ context.Context, evs []realtime.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.batches = append(p.batches, evs)
	return nil
}

// A pusher that takes batches gets a batch's frames in one call (one round
// trip to the bus), in the order of the jobs, each the frame Publish would
// have sent.
func TestHandleBatchPushesInOneCall(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		store := newStore(t, backend)
		p := &batchPusher{}
		h := notification.NewHandler(store, p, nil, slog.New(slog.DiscardHandler))
		jobs := []*queue.Job{
			job("badge-1-1", `{"type":"NEW_BADGE","userId":1,"badgeId":1}`),
			job("bad", `{"type":"NEW_BADGE"}`),
			job("badge-2-1", `{"type":"NEW_BADGE","userId":2,"badgeId":1}`),
			job("badge-1-2", `{"type":"NEW_BADGE","userId":1,"badgeId":2}`),
		}
		errs := h.HandleBatch(t.Context(), jobs)
		if errs[0] != nil || errs[2] != nil || errs[3] != nil || !queue.IsPermanent(errs[1]) {
			t.Fatalf("errors %v", errs)
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.got) != 0 || len(p.batches) != 1 || len(p.batches[0]) != 3 {
			t.Fatalf("%d single pushes, batches %v", len(p.got), p.batches)
		}
		for i, user := range []int64{1, 2, 1} {
			ev := p.batches[0][i]
			var frame map[string]any
			if err := json.Unmarshal(ev.Payload, &frame); err != nil || ev.UserID != user || frame["userId"] != float64(user) ||
				frame["type"] != "NEW_BADGE" || frame["id"] == nil || frame["channels"] != nil {
				t.Fatalf("frame %d: user %d %s (%v)", i, ev.UserID, ev.Payload, err)
			}
		}
	})
}

// A batch mixing new jobs and jobs stored before returns every row in the
// batch's order: the new ones as created, the others as first stored.
func TestSaveBatchMixesNewAndStored(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		store := newStore(t, backend)
		ctx := t.Context()
		data := func(v string) map[string]json.RawMessage { return map[string]json.RawMessage{"v": json.RawMessage(v)} }
		first, _, err := store.Save(ctx, "stored", 7, "NEW_BADGE", data("1"), nil)
		if err != nil {
			t.Fatal(err)
		}
		ns, created, err := store.SaveBatch(ctx, []notification.Record{
			{JobID: "new-a", UserID: 7, Type: "NEW_BADGE", Data: data("2")},
			{JobID: "stored", UserID: 7, Type: "NEW_BADGE", Data: data("3")},
			{JobID: "new-b", UserID: 8, Type: "NEW_BADGE", Data: data("4")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(ns) != 3 || !created[0] || created[1] || !created[2] {
			t.Fatalf("created %v of %d rows", created, len(ns))
		}
		if ns[1].ID != first.ID || string(ns[1].Data["v"]) != "1" {
			t.Fatalf("the stored job came back as %+v, want the row first stored (%d, v=1)", ns[1], first.ID)
		}
		if string(ns[0].Data["v"]) != "2" || ns[2].UserID != 8 || string(ns[2].Data["v"]) != "4" || ns[0].ID == ns[2].ID {
			t.Fatalf("new rows %+v %+v", ns[0], ns[2])
		}
	})
}
