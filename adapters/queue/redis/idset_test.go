package redis

import "sync"

// idSet records which job ids ran, and how many runs there were.
type idSet struct {
	mu  sync.Mutex
	ids map[string]int
	n   int
}

func newIDSet() *idSet { return &idSet{ids: map[string]int{}} }

func (s *idSet) add(id string) {
	s.mu.Lock()
	s.ids[id]++
	s.n++
	s.mu.Unlock()
}

func (s *idSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

func (s *idSet) runs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}
