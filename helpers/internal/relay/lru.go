package relay

import (
	"container/list"
	"sync"
)

// seen is a bounded set of recently seen request keys, evicting the oldest.
type seen struct {
	mu    sync.Mutex
	max   int
	order *list.List
	keys  map[string]*list.Element
}

func newSeen(max int) *seen {
	return &seen{max: max, order: list.New(), keys: make(map[string]*list.Element, min(max, 4096))}
}

// checkAndAdd reports whether any key was seen before; if none was, it records them all.
func (s *seen) checkAndAdd(keys ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if _, ok := s.keys[k]; ok {
			return true
		}
	}
	for _, k := range keys {
		s.keys[k] = s.order.PushFront(k)
		for s.order.Len() > s.max {
			old := s.order.Back()
			s.order.Remove(old)
			delete(s.keys, old.Value.(string))
		}
	}
	return false
}

// forget drops keys so that a request refused for load can be retried.
func (s *seen) forget(keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if e, ok := s.keys[k]; ok {
			s.order.Remove(e)
			delete(s.keys, k)
		}
	}
}
