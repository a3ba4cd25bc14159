package queue

import (
	"errors"
	"runtime"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
)

func TestRunners(t *testing.T) {
	r := newRunners(1)
	msg := message.NewMessage("1", nil)
	boom := errors.New("boom")
	call := r.middleware(func(*message.Message) ([]*message.Message, error) { return nil, boom })
	if _, err := call(msg); !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	exit := r.middleware(func(*message.Message) ([]*message.Message, error) { runtime.Goexit(); return nil, nil })
	if _, err := exit(msg); !errors.Is(err, errRunnerExited) {
		t.Fatalf("Goexit: err %v", err)
	}
	// The runner was replaced: calls still run.
	for range 3 {
		if _, err := call(msg); !errors.Is(err, boom) {
			t.Fatalf("after Goexit: err %v", err)
		}
	}
	r.close()
	r.close()
	if _, err := call(msg); !errors.Is(err, boom) { // inline after close
		t.Fatalf("after close: err %v", err)
	}
}
