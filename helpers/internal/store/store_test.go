package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/testing/pgtest"
)

var pg *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg)) }

// backends runs f against a fresh SQLite file and a fresh PostgreSQL database.
func backends(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, "sqlite:"+filepath.Join(t.TempDir(), "relay.db")) })
	t.Run("postgres", func(t *testing.T) { f(t, pg.NewDB(t)) })
}

func open(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func newRequest(t *testing.T, s *Store, id string) Request {
	t.Helper()
	r := Request{ID: id, InputID: "Approval" + id, Controller: "ci", BuildURL: "http://j/job/orders/1/", TraceID: "tr-" + id,
		Service: "orders", Environment: "prod", Version: "1.0.0", Commit: "abc", Branch: "main", Digests: []string{"sha256:aa"},
		Rule: json.RawMessage(`{"required":2}`), Requesters: []string{"U01ALICE"}, Channel: "C1", State: StatePending,
		Created: t0, Deadline: t0.Add(time.Hour), EscalateAt: t0.Add(10 * time.Minute)}
	if err := s.CreateRequest(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

// quorum decides approved at n approvals and rejected at the first reject.
func quorum(n int) Decider {
	return func(r Request, cl []Click) (*Decision, error) {
		ok := 0
		for _, c := range cl {
			if c.Decision == "reject" {
				return &Decision{State: StateRejected, Params: []byte(`[]`), Record: []byte("rec")}, nil
			}
			ok++
		}
		if ok >= n {
			return &Decision{State: StateApproved, Params: []byte(`[{"name":"decision","value":"approved"}]`), Record: []byte("rec")}, nil
		}
		return nil, nil
	}
}

func click(id, who, decision, ts string) Click {
	return Click{RequestID: id, Approver: who, Name: who, Decision: decision, EventID: ts + "-" + who, ReplayKey: ts + ":" + who, At: t0.Add(time.Minute)}
}

func TestVotesAreCountedOncePerApproverAndEventAndCloseTheRequest(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		s := open(t, dsn)
		ctx := context.Background()
		newRequest(t, s, "r1")
		if err := s.CreateRequest(ctx, Request{ID: "r1b", InputID: "Approvalr1", BuildURL: "http://j/job/orders/1/", Rule: json.RawMessage(`{}`)}); err != ErrDuplicate {
			t.Fatalf("same build and input: %v, want ErrDuplicate", err)
		}
		steps := []struct {
			c    Click
			want string
			dec  string
		}{
			{click("r1", "U02BOB", "approve", "1.1"), VoteCounted, ""},
			{click("r1", "U02BOB", "approve", "1.2"), VoteDuplicate, ""},
			{click("r1", "U03CAROL", "approve", "1.1"), VoteCounted, StateApproved},
			{click("r1", "U03CAROL", "approve", "1.1"), VoteReplayed, ""},
			{click("r1", "U04DAVE", "approve", "1.3"), VoteClosed, ""},
		}
		for i, st := range steps {
			res, err := s.Vote(ctx, st.c, quorum(2))
			if err != nil || res.Outcome != st.want {
				t.Fatalf("step %d: %+v %v, want %s", i, res.Outcome, err, st.want)
			}
			if got := ""; res.Decided != nil {
				got = res.Decided.State
				if got != st.dec {
					t.Fatalf("step %d decided %s, want %s", i, got, st.dec)
				}
			} else if st.dec != "" {
				t.Fatalf("step %d: no decision, want %s", i, st.dec)
			}
		}
		cl, _ := s.Clicks(ctx, "r1")
		if len(cl) != 2 {
			t.Fatalf("clicks %+v", cl)
		}
		r, _ := s.Request(ctx, "r1")
		if r.State != StateApproved || r.Digests[0] != "sha256:aa" || string(r.Rule) != `{"required":2}` {
			t.Fatalf("request %+v", r)
		}
		if ok, _, _ := s.Decide(ctx, "r1", t0, quorum(0)); ok {
			t.Fatal("a decided request was decided again")
		}
		rec, dec, err := s.Record(ctx, "r1")
		if err != nil || string(rec) != "rec" || dec != StateApproved {
			t.Fatalf("record %q %q %v", rec, dec, err)
		}
	})
}

func TestConcurrentClicksAreAllCountedAndDecideOnce(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		s := open(t, dsn)
		s2 := open(t, dsn) // a second replica on the same database
		ctx := context.Background()
		newRequest(t, s, "r2")
		const n = 12
		var wg sync.WaitGroup
		results := make(chan VoteResult, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				st := s
				if i%2 == 1 {
					st = s2
				}
				res, err := st.Vote(ctx, click("r2", fmt.Sprintf("U%02d", i), "approve", "2.0"), quorum(n))
				if err != nil {
					t.Error(err)
				}
				results <- res
			}(i)
		}
		wg.Wait()
		close(results)
		decided, counted := 0, 0
		for r := range results {
			if r.Outcome == VoteCounted {
				counted++
			}
			if r.Decided != nil {
				decided++
			}
		}
		if counted != n || decided != 1 {
			t.Fatalf("counted %d decided %d, want %d and 1", counted, decided, n)
		}
	})
}

func TestTheOutboxIsLeasedToOneReplicaAndSurvivesAReopen(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		s := open(t, dsn)
		ctx := context.Background()
		newRequest(t, s, "r3")
		if _, err := s.Vote(ctx, click("r3", "U1", "reject", "3.0"), quorum(2)); err != nil {
			t.Fatal(err)
		}
		a, b := open(t, dsn), open(t, dsn)
		var got [2][]Delivery
		var wg sync.WaitGroup
		for i, st := range []*Store{a, b} {
			wg.Add(1)
			go func(i int, st *Store) {
				defer wg.Done()
				d, err := st.Claim(ctx, fmt.Sprint("replica", i), t0.Add(2*time.Minute), time.Minute, 10)
				if err != nil {
					t.Error(err)
				}
				got[i] = d
			}(i, st)
		}
		wg.Wait()
		if len(got[0])+len(got[1]) != 1 {
			t.Fatalf("claims %+v, want exactly one", got)
		}
		owner := "replica0"
		if len(got[1]) == 1 {
			owner = "replica1"
		}
		if err := s.StartSubmit(ctx, "r3", "someone-else", t0); err == nil {
			t.Fatal("a replica without the lease may not submit")
		}
		if err := s.StartSubmit(ctx, "r3", owner, t0); err != nil {
			t.Fatal(err)
		}
		// The lease runs out (the owner died): the row comes back, marked as possibly submitted.
		again, err := s.Claim(ctx, "replica9", t0.Add(5*time.Minute), time.Minute, 10)
		if err != nil || len(again) != 1 || !again[0].SubmitStarted || again[0].Decision != StateRejected || again[0].InputID != "Approvalr3" {
			t.Fatalf("after the lease: %+v %v", again, err)
		}
		if err := s.Delivered(ctx, "r3", "submitted", t0.Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if d, _ := s.Claim(ctx, "replica9", t0.Add(time.Hour), time.Minute, 10); len(d) != 0 {
			t.Fatalf("delivered row claimed again: %+v", d)
		}
		if n, _ := s.Undelivered(ctx); n != 0 {
			t.Fatalf("undelivered %d", n)
		}
	})
}

func TestExpiryAndEscalationAreDueOnTheRelaysClock(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		s := open(t, dsn)
		ctx := context.Background()
		newRequest(t, s, "r4")
		exp, esc, err := s.Due(ctx, t0.Add(11*time.Minute))
		if err != nil || len(exp) != 0 || len(esc) != 1 {
			t.Fatalf("due %v %v %v", exp, esc, err)
		}
		if ok, _ := s.MarkEscalated(ctx, "r4"); !ok {
			t.Fatal("first escalation refused")
		}
		if ok, _ := s.MarkEscalated(ctx, "r4"); ok {
			t.Fatal("escalated twice")
		}
		exp, _, _ = s.Due(ctx, t0.Add(2*time.Hour))
		if len(exp) != 1 {
			t.Fatalf("expired %v", exp)
		}
		expire := func(Request, []Click) (*Decision, error) {
			return &Decision{State: StateExpired, Params: []byte(`[]`), Record: []byte("x")}, nil
		}
		if ok, r, err := s.Decide(ctx, "r4", t0.Add(2*time.Hour), expire); !ok || err != nil || r.State != StateExpired {
			t.Fatalf("expire %v %+v %v", ok, r, err)
		}
		if ok, _, _ := s.Decide(ctx, "r4", t0.Add(2*time.Hour), expire); ok {
			t.Fatal("expired twice")
		}
	})
}

func TestMigrationsAreVersionedAndIdempotent(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		open(t, dsn)
		s := open(t, dsn)
		var v int
		if err := s.db.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != SchemaVersion {
			t.Fatalf("version %d %v", v, err)
		}
		if _, err := s.db.Exec(s.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`), SchemaVersion+1); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(context.Background(), dsn); err == nil {
			t.Fatal("a newer schema must be refused")
		}
	})
	if _, err := Open(context.Background(), "mysql://x"); err == nil {
		t.Fatal("unknown database accepted")
	}
}

func TestTheSQLiteDSNTakesOnlyTheSynchronousOption(t *testing.T) {
	dir := t.TempDir()
	for dsn, want := range map[string]string{"sqlite:" + dir + "/a.db": "FULL", "sqlite:" + dir + "/b.db?synchronous=normal": "NORMAL", "sqlite:" + dir + "/c.db?synchronous=off": ""} {
		s, err := Open(context.Background(), dsn)
		if want == "" {
			if err == nil || !strings.Contains(err.Error(), "synchronous=normal") {
				t.Fatalf("%s: %v, want a refusal naming the options", dsn, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var mode int
		if err := s.db.QueryRow(`PRAGMA synchronous`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if s.Synchronous != want || (want == "FULL") != (mode == 2) || (want == "NORMAL") != (mode == 1) {
			t.Fatalf("%s: Synchronous %q, pragma %d", dsn, s.Synchronous, mode)
		}
		_ = s.Close()
	}
}

func TestABatchWithABrokenWriteStillCommitsTheOthers(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		s := open(t, dsn)
		ctx := context.Background()
		ins := func(version int) func(tx *sql.Tx) error {
			return func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`), version)
				return err
			}
		}
		jobs := []writeJob{
			{ctx: ctx, key: "a", fn: ins(1001), done: make(chan error, 1)},
			{ctx: ctx, key: "b", fn: ins(1), done: make(chan error, 1)}, // version 1 exists: a unique violation
			{ctx: ctx, key: "c", fn: ins(1002), done: make(chan error, 1)},
		}
		s.runBatch(jobs)
		for i, want := range []bool{true, false, true} {
			if err := <-jobs[i].done; (err == nil) != want {
				t.Fatalf("job %d: %v", i, err)
			}
		}
		var n int
		if err := s.db.QueryRow(`SELECT COUNT(*) FROM schema_migrations WHERE version IN (1001, 1002)`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("%d of the two good writes committed (%v)", n, err)
		}
	})
}

func TestTheDecidingVoteLeasesTheOutboxRowToTheVoter(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		s := open(t, dsn)
		ctx := context.Background()
		r := newRequest(t, s, "lease1")
		if res, err := s.VoteLeased(ctx, click(r.ID, "U02BOB", "approve", "1"), quorum(2), "r1", time.Minute); err != nil || res.Delivery != nil {
			t.Fatalf("a vote that decides nothing: %+v %v", res.Delivery, err)
		}
		c := click(r.ID, "U03CAROL", "approve", "2")
		res, err := s.VoteLeased(ctx, c, quorum(2), "r1", time.Minute)
		if err != nil || res.Delivery == nil || res.Delivery.RequestID != r.ID || res.Delivery.BuildURL != r.BuildURL || string(res.Delivery.Params) == "" {
			t.Fatalf("deciding vote: %+v %v", res.Delivery, err)
		}
		if d, _ := s.Claim(ctx, "r2", c.At.Add(30*time.Second), time.Minute, 10); len(d) != 0 {
			t.Fatalf("another replica claimed a row leased to the voter: %+v", d)
		}
		if err := s.StartSubmit(ctx, r.ID, "r2", c.At); err == nil {
			t.Fatal("a replica without the lease may start the submit")
		}
		d, err := s.Claim(ctx, "r2", c.At.Add(61*time.Second), time.Minute, 10)
		if err != nil || len(d) != 1 || d[0].Attempts != 1 {
			t.Fatalf("after the lease the row is claimable by others: %+v %v", d, err)
		}
	})
}

func TestADecidingClickReplayedFromAnotherRequestClosesNothing(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		s := open(t, dsn)
		ctx := context.Background()
		a, b := newRequest(t, s, "replayA"), newRequest(t, s, "replayB")
		if res, err := s.VoteLeased(ctx, click(a.ID, "U02BOB", "approve", "7"), quorum(2), "r1", time.Minute); err != nil || res.Outcome != VoteCounted {
			t.Fatalf("first click on A: %+v %v", res, err)
		}
		if res, err := s.VoteLeased(ctx, click(b.ID, "U03CAROL", "approve", "8"), quorum(2), "r1", time.Minute); err != nil || res.Outcome != VoteCounted {
			t.Fatalf("first click on B: %+v %v", res, err)
		}
		// Carol's event 8 again, now on A, where it would complete the quorum: the replay key is B's already.
		res, err := s.VoteLeased(ctx, click(a.ID, "U03CAROL", "approve", "8"), quorum(2), "r1", time.Minute)
		if err != nil || res.Outcome != VoteReplayed || res.Decided != nil || res.Delivery != nil {
			t.Fatalf("replayed deciding click: outcome %q decided %+v delivery %+v err %v", res.Outcome, res.Decided, res.Delivery, err)
		}
		got, err := s.Request(ctx, a.ID)
		if err != nil || got.State != StatePending {
			t.Fatalf("A after the replay: state %q %v, want pending", got.State, err)
		}
		if _, _, err := s.Record(ctx, a.ID); err != ErrNotFound {
			t.Fatalf("A has an outbox row after a replay: %v", err)
		}
		if cl, err := s.Clicks(ctx, a.ID); err != nil || len(cl) != 1 {
			t.Fatalf("A's clicks after the replay: %+v %v, want Bob's only", cl, err)
		}
		// A fresh deciding click closes A and queues its answer, and the claimed row carries the request's fields.
		res, err = s.VoteLeased(ctx, click(a.ID, "U03CAROL", "approve", "9"), quorum(2), "", 0)
		if err != nil || res.Decided == nil || res.Request.State != StateApproved {
			t.Fatalf("deciding click: %+v %v", res, err)
		}
		d, err := s.Claim(ctx, "r2", t0.Add(2*time.Minute), time.Minute, 10)
		if err != nil || len(d) != 1 || d[0].RequestID != a.ID || d[0].Controller != a.Controller || d[0].TraceID != a.TraceID ||
			d[0].Service != a.Service || d[0].Environment != a.Environment || d[0].Decision != StateApproved {
			t.Fatalf("claimed delivery: %+v %v", d, err)
		}
	})
}

func TestWritesAfterCloseFailInsteadOfWaitingForever(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		s, err := Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		r := newRequest(t, s, "closed1")
		_ = s.Close()
		// Each write used to race the closed store's queue: one that got queued waited for writers that had stopped.
		for i := 0; i < 200; i++ {
			if _, err := s.Vote(context.Background(), click(r.ID, "U02BOB", "approve", fmt.Sprint(i)), quorum(2)); err == nil {
				t.Fatalf("write %d after Close succeeded", i)
			}
		}
	})
}
