package relay

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/decision"
	"github.com/release-gates/release-gates/helpers/internal/store"
)

// maxCached bounds the request cache; when full it starts over (a miss costs one read).
const maxCached = 1 << 16

// cached is what a click is checked against: a request's fields that never change after it is created (rule
// snapshot, requesters, deadline, service, environment), its parsed rule, and the last state this replica saw.
type cached struct {
	req  store.Request
	rule decision.Rule
}

// requestCache saves a click the read of its request: the checks before the vote use only fields fixed at
// creation, and the vote's transaction re-reads the row (its state, under lock) before counting anything.
type requestCache struct {
	mu sync.Mutex
	m  map[string]*cached
}

// get returns the request id from the cache, or reads it from the store.
func (c *requestCache) get(ctx context.Context, st *store.Store, id string) (*cached, error) {
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if ok {
		return e, nil
	}
	sr, err := st.Request(ctx, id)
	if err != nil {
		return nil, err
	}
	return c.put(sr), nil
}

// put caches a request as stored; times are cut to the milliseconds the database keeps, so a cached deadline is
// the stored one.
func (c *requestCache) put(sr store.Request) *cached {
	for _, t := range []*time.Time{&sr.Created, &sr.Deadline, &sr.EscalateAt} {
		if !t.IsZero() {
			*t = time.UnixMilli(t.UnixMilli()).UTC()
		}
	}
	e := &cached{req: sr}
	_ = json.Unmarshal(sr.Rule, &e.rule)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCached {
		c.m = map[string]*cached{}
	}
	c.m[sr.ID] = e
	c.mu.Unlock()
	return e
}

// closed records that a request left pending: later clicks on it are refused without a transaction.
func (c *requestCache) closed(id, state string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok {
		n := *e
		n.req.State = state
		c.m[id] = &n
	}
}
