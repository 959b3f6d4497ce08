package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Request states.
const (
	StatePending  = "pending"
	StateApproved = "approved"
	StateRejected = "rejected"
	StateExpired  = "expired"
)

// ErrNotFound means no request has that id.
var ErrNotFound = errors.New("no such approval request")

// ErrDuplicate means a request for that build and input id exists already.
var ErrDuplicate = errors.New("an approval request for this build and input exists already")

// Request is one approval the relay owns.
type Request struct {
	ID, InputID, Controller, BuildURL, TraceID    string
	Service, Environment, Version, Commit, Branch string
	Digests                                       []string
	Summary                                       []string        // lines shown in the Slack message
	Rule                                          json.RawMessage // the rule snapshot taken at request time
	Requesters                                    []string        // Slack user ids
	Channel, MessageTS                            string
	State                                         string
	Created, Deadline, EscalateAt                 time.Time // EscalateAt is zero without escalation
	Escalated                                     bool
}

// Click is one counted approve or reject.
type Click struct {
	RequestID, Approver, Name, Decision, EventID string
	// ReplayKey identifies the Slack event (action_ts + user); it is unique across all requests.
	ReplayKey string
	At        time.Time
}

// Decision closes a request: its final state and what to tell Jenkins.
type Decision struct {
	State  string
	Params []byte // JSON list of {name, value} for the input's submit
	Record []byte // the signed decision record
}

// Vote outcomes.
const (
	VoteCounted   = "counted"
	VoteDuplicate = "duplicate" // this approver already voted on this request
	VoteReplayed  = "replayed"  // this Slack event was recorded before
	VoteClosed    = "closed"    // the request is decided or expired
)

// VoteResult says what became of a click.
type VoteResult struct {
	Outcome string
	Request Request
	Clicks  []Click // all counted clicks, this one included when counted
	Decided *Decision
	// Delivery is the decided request's outbox row, already leased to the voter (VoteLeased): deliver it now.
	Delivery *Delivery
}

// Delivery is one outbox row waiting to reach Jenkins.
type Delivery struct {
	RequestID, BuildURL, InputID, Decision string
	// Controller, TraceID, Service and Environment come from the request, so a delivery needs no read of it.
	Controller, TraceID, Service, Environment string
	Params                                    []byte
	Attempts                                  int
	// SubmitStarted is set once a replica began the POST; after a crash the input may already be answered.
	SubmitStarted bool
}

// Decider turns a request and its counted clicks into a Decision, or nil while it stays open.
type Decider func(r Request, clicks []Click) (*Decision, error)

// Store is the relay's database.
type Store struct {
	db      *sql.DB
	rdb     *sql.DB // reads; on SQLite a separate pool, since WAL readers do not wait for the writer
	pg      bool
	Backend string
	// Synchronous is SQLite's synchronous pragma: FULL (fsync at every commit: durable against power loss) or
	// NORMAL (WAL written at commit, synced at checkpoints: durable against a killed process, not a power loss).
	Synchronous string
	// Group commit: writes queue here for the batchWrites workers (one on SQLite, pgWriters on PostgreSQL).
	jobs    chan writeJob
	quit    chan struct{}
	batched chan struct{}
	writers int
	once    sync.Once
	// wstmts (writer) and rstmts (read pool) hold the prepared write-path statements on SQLite, by query text.
	wstmts, rstmts map[string]*sql.Stmt
}

// Open opens "sqlite:PATH" or a postgres:// URL and applies the migrations.
func Open(ctx context.Context, dsn string) (*Store, error) {
	var s *Store
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path, opts, _ := strings.Cut(strings.TrimPrefix(dsn, "sqlite:"), "?")
		if path == "" {
			return nil, errors.New("database: sqlite:PATH needs a file path")
		}
		sync := "FULL"
		switch opts {
		case "", "synchronous=full":
		case "synchronous=normal":
			sync = "NORMAL"
		default:
			return nil, fmt.Errorf("database: sqlite:PATH takes only ?synchronous=full (the default) or ?synchronous=normal, not %q", opts)
		}
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous("+sync+")&_pragma=foreign_keys(1)&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("opening sqlite: %w", err)
		}
		db.SetMaxOpenConns(1) // one writer; transactions queue here instead of failing busy
		rdb, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&mode=ro")
		if err != nil {
			return nil, fmt.Errorf("opening sqlite: %w", err)
		}
		rdb.SetMaxOpenConns(4)
		rdb.SetMaxIdleConns(4) // database/sql keeps 2 by default: the others would be reopened (and re-prepared) per burst
		s = &Store{db: db, rdb: rdb, Backend: "sqlite", Synchronous: sync, jobs: make(chan writeJob, 1024), quit: make(chan struct{}), writers: 1}
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("opening postgres: %w", err)
		}
		db.SetMaxOpenConns(pgWriters + 8) // the group-commit writers and the readers
		// All of them stay open: database/sql keeps 2 idle by default, and each connection it closes is a backend
		// PostgreSQL forks and authenticates again on the next burst.
		db.SetMaxIdleConns(pgWriters + 8)
		s = &Store{db: db, rdb: db, pg: true, Backend: "postgres", jobs: make(chan writeJob, 1024), quit: make(chan struct{}), writers: pgWriters}
	default:
		return nil, errors.New("database: use sqlite:PATH or a postgres:// URL")
	}
	if err := s.migrate(ctx); err != nil {
		_ = s.db.Close()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		_ = s.db.Close()
		return nil, fmt.Errorf("database: %w", err)
	}
	s.batched = make(chan struct{}, s.writers)
	for range s.writers {
		go s.batchWrites()
	}
	return s, nil
}

// Close stops the group commit and closes the database.
func (s *Store) Close() error {
	s.once.Do(func() {
		if s.quit != nil {
			close(s.quit)
			for range s.writers {
				<-s.batched
			}
		}
	})
	for _, st := range s.wstmts {
		_ = st.Close()
	}
	for _, st := range s.rstmts {
		_ = st.Close()
	}
	if s.rdb != s.db {
		_ = s.rdb.Close()
	}
	return s.db.Close()
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return err
	}
	var one int
	return s.rdb.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

// q rewrites ? placeholders to $n for PostgreSQL.
func (s *Store) q(query string) string {
	if !s.pg {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func isUnique(err error) bool {
	if err == nil {
		return false
	}
	m := err.Error()
	return strings.Contains(m, "UNIQUE constraint") || strings.Contains(m, "SQLSTATE 23505") || strings.Contains(m, "duplicate key")
}

// CreateRequest stores a new pending request.
func (s *Store) CreateRequest(ctx context.Context, r Request) error {
	dig, _ := json.Marshal(r.Digests)
	sum, _ := json.Marshal(r.Summary)
	req, _ := json.Marshal(r.Requesters)
	rule := r.Rule
	if rule == nil {
		rule = json.RawMessage("{}")
	}
	err := s.writeKeyed(ctx, r.ID, func(tx *sql.Tx) error {
		_, err := s.exec(ctx, tx, sqlInsertRequest,
			r.ID, r.InputID, r.Controller, r.BuildURL, r.TraceID, r.Service, r.Environment, r.Version, r.Commit, r.Branch,
			string(dig), string(sum), string(rule), string(req), r.Channel, r.MessageTS, StatePending, ms(r.Created), ms(r.Deadline), ms(r.EscalateAt))
		return err
	})
	if isUnique(err) {
		return ErrDuplicate
	}
	if err != nil {
		return fmt.Errorf("storing the request: %w", err)
	}
	return nil
}

// SetMessage records where the Slack message landed.
func (s *Store) SetMessage(ctx context.Context, id, channel, ts string) error {
	return s.writeKeyed(ctx, id, func(tx *sql.Tx) error {
		_, err := s.exec(ctx, tx, sqlSetMessage, channel, ts, id)
		return err
	})
}

const requestCols = `id, input_id, controller, build_url, trace_id, service, environment, version, commit_sha, branch, digests, summary, rule,
	requesters, channel, message_ts, state, created_at, deadline, escalate_at, escalated`

// The statements of the write path, prepared once per connection on SQLite (parsing SQL costs more than running these).
var (
	sqlLockRequest   = writeSQL(`SELECT ` + requestCols + ` FROM requests WHERE id = ?`)
	sqlClicks        = writeSQL(`SELECT request_id, approver, name, decision, event_id, replay_key, at FROM clicks WHERE request_id = ? ORDER BY at, approver`)
	sqlInsertRequest = writeSQL(`INSERT INTO requests (id, input_id, controller, build_url, trace_id, service, environment, version,
		commit_sha, branch, digests, summary, rule, requesters, channel, message_ts, state, created_at, deadline, escalate_at, escalated)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0)`)
	sqlSetMessage    = writeSQL(`UPDATE requests SET channel = ?, message_ts = ? WHERE id = ?`)
	sqlInsertClick   = writeSQL(`INSERT INTO clicks (request_id, approver, name, decision, event_id, replay_key, at) VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`)
	sqlCloseRequest  = writeSQL(`UPDATE requests SET state = ?, decided_at = ? WHERE id = ?`)
	sqlInsertOutbox  = writeSQL(`INSERT INTO outbox (request_id, decision, params, record, created_at, next_attempt, lease_owner, lease_until, attempts) VALUES (?,?,?,?,?,?,?,?,?)`)
	sqlMarkEscalated = writeSQL(`UPDATE requests SET escalated = 1 WHERE id = ? AND escalated = 0 AND state = ?`)
	sqlClaim         = writeSQL(`SELECT o.request_id, r.build_url, r.input_id, o.decision, o.params, o.attempts, o.submit_started,
		r.controller, r.trace_id, r.service, r.environment
		FROM outbox o JOIN requests r ON r.id = o.request_id
		WHERE o.delivered_at = 0 AND o.next_attempt <= ? AND o.lease_until <= ? ORDER BY o.next_attempt LIMIT ?`)
	sqlLease       = writeSQL(`UPDATE outbox SET lease_owner = ?, lease_until = ?, attempts = attempts + 1 WHERE request_id = ?`)
	sqlStartSubmit = writeSQL(`UPDATE outbox SET submit_started = ? WHERE request_id = ? AND lease_owner = ? AND delivered_at = 0`)
	sqlDelivered   = writeSQL(`UPDATE outbox SET delivered_at = ?, outcome = ?, lease_until = 0 WHERE request_id = ?`)
	sqlRetry       = writeSQL(`UPDATE outbox SET next_attempt = ?, lease_until = 0, outcome = ? WHERE request_id = ?`)
)

type scanner interface{ Scan(...any) error }

func scanRequest(row scanner) (Request, error) {
	var r Request
	var dig, sum, rule, req string
	var created, deadline, esc int64
	var escalated int
	err := row.Scan(&r.ID, &r.InputID, &r.Controller, &r.BuildURL, &r.TraceID, &r.Service, &r.Environment, &r.Version, &r.Commit,
		&r.Branch, &dig, &sum, &rule, &req, &r.Channel, &r.MessageTS, &r.State, &created, &deadline, &esc, &escalated)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, err
	}
	_ = json.Unmarshal([]byte(dig), &r.Digests)
	_ = json.Unmarshal([]byte(req), &r.Requesters)
	_ = json.Unmarshal([]byte(sum), &r.Summary)
	r.Rule = json.RawMessage(rule)
	r.Created, r.Deadline, r.EscalateAt, r.Escalated = fromMS(created), fromMS(deadline), fromMS(esc), escalated != 0
	return r, nil
}

// Request loads one request.
func (s *Store) Request(ctx context.Context, id string) (Request, error) {
	return scanRequest(s.rQueryRow(ctx, sqlLockRequest, id))
}

// Clicks returns the counted clicks of a request in the order they were stored.
func (s *Store) Clicks(ctx context.Context, id string) ([]Click, error) {
	return s.clicks(ctx, nil, id)
}

// clicks reads a request's clicks inside tx, or from the read pool when tx is nil.
func (s *Store) clicks(ctx context.Context, tx *sql.Tx, id string) ([]Click, error) {
	var rows *sql.Rows
	var err error
	if tx != nil {
		rows, err = s.query(ctx, tx, sqlClicks, id)
	} else {
		rows, err = s.rQuery(ctx, sqlClicks, id)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Click
	for rows.Next() {
		var c Click
		var at int64
		if err := rows.Scan(&c.RequestID, &c.Approver, &c.Name, &c.Decision, &c.EventID, &c.ReplayKey, &at); err != nil {
			return nil, err
		}
		c.At = fromMS(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// lockRequest loads a request inside tx, locking its row on PostgreSQL (SQLite transactions are already exclusive).
func (s *Store) lockRequest(ctx context.Context, tx *sql.Tx, id string) (Request, error) {
	query := sqlLockRequest
	if s.pg {
		query += ` FOR UPDATE`
	}
	return scanRequest(s.queryRow(ctx, tx, query, id))
}

// Vote records a click and, in the same transaction, closes the request when decide says so. It returns only
// after the commit, so a counted click is durable before the caller acknowledges it.
func (s *Store) Vote(ctx context.Context, c Click, decide Decider) (VoteResult, error) {
	return s.VoteLeased(ctx, c, decide, "", 0)
}

// VoteLeased is Vote that, when the click decides, leases the new outbox row to owner for lease in the same
// transaction and returns it, so the deciding replica delivers at once instead of claiming it later.
func (s *Store) VoteLeased(ctx context.Context, c Click, decide Decider, owner string, lease time.Duration) (VoteResult, error) {
	var res VoteResult
	err := s.writeKeyed(ctx, c.RequestID, func(tx *sql.Tx) error {
		var err error
		res, err = s.voteIn(ctx, tx, c, decide, owner, lease)
		if errors.Is(err, ErrNotFound) {
			return logical{err}
		}
		return err
	})
	var l logical
	if errors.As(err, &l) {
		err = l.err
	}
	return res, err
}

// logical is a job's own outcome (not found, lease lost): it fails that job only, not the batch it shares.
type logical struct{ err error }

func (l logical) Error() string { return l.err.Error() }

// pgWriters is how many group-commit transactions run at once on PostgreSQL: enough that a lone write never
// waits for another's commit, as with a transaction each.
const pgWriters = 16

// maxBatch caps the writes one group-commit transaction carries on SQLite; pgMaxBatch on PostgreSQL, where each
// statement is a round trip and a write's ack waits for every statement of its batch.
const (
	maxBatch   = 128
	pgMaxBatch = 16
)

// write runs fn in a transaction and returns after the commit (see writeKeyed).
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.writeKeyed(ctx, "", fn)
}

// writeKeyed runs fn in a transaction and returns after the commit. Writes arriving together share one
// transaction and one commit (group commit: one fsync on SQLite, one WAL flush on PostgreSQL); within a batch they
// run in key order (the request id), so batches on several connections or replicas take row locks in one order.
func (s *Store) writeKeyed(ctx context.Context, key string, fn func(tx *sql.Tx) error) error {
	if s.jobs == nil {
		return s.single(ctx, fn)
	}
	j := writeJob{ctx: ctx, key: key, fn: fn, done: make(chan error, 1)}
	select {
	case s.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.quit:
		return errors.New("store closed")
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return ctx.Err() // the batch may still commit it; the caller answers 503 and Slack retries
	case <-s.quit:
		// Closed while queued: the writers may have stopped before taking it, so it may never be answered.
		select {
		case err := <-j.done:
			return err
		default:
			return errors.New("store closed")
		}
	}
}

// single runs fn in a transaction of its own.
func (s *Store) single(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("starting a transaction: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

type writeJob struct {
	ctx  context.Context
	key  string
	fn   func(tx *sql.Tx) error
	done chan error
}

// batchWrites is one group-commit worker: it takes every write queued when it is free, up to maxBatch, into one
// transaction. It adds no wait: a lone write commits at once, and writes arriving during a commit share the next.
func (s *Store) batchWrites() {
	defer func() { s.batched <- struct{}{} }()
	for {
		var first writeJob
		select {
		case first = <-s.jobs:
		case <-s.quit:
			return
		}
		batch := []writeJob{first}
		limit := maxBatch
		if s.pg {
			limit = pgMaxBatch
		}
	more:
		for len(batch) < limit {
			select {
			case j := <-s.jobs:
				batch = append(batch, j)
			default:
				break more
			}
		}
		s.runBatch(batch)
	}
}

func (s *Store) runBatch(batch []writeJob) {
	slices.SortStableFunc(batch, func(a, b writeJob) int { return strings.Compare(a.key, b.key) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("starting a transaction: %w", err)
		}
		defer func() { _ = tx.Rollback() }()
		out := make([]error, len(batch))
		for i, j := range batch {
			if j.ctx.Err() != nil {
				out[i] = j.ctx.Err()
				continue
			}
			err := j.fn(tx)
			var l logical
			if err != nil && !errors.As(err, &l) {
				return err
			}
			out[i] = err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("committing: %w", err)
		}
		for i, j := range batch {
			j.done <- out[i]
		}
		return nil
	}()
	if err == nil {
		return
	}
	if len(batch) == 1 {
		batch[0].done <- err
		return
	}
	// One write broke the shared transaction (or a deadlock between replicas aborted it): nothing of it
	// committed, so each write runs again alone and only the faulty one fails.
	for _, j := range batch {
		if j.ctx.Err() != nil {
			j.done <- j.ctx.Err()
			continue
		}
		j.done <- s.single(j.ctx, j.fn)
	}
}

// voteIn is one vote inside tx; it commits nothing.
func (s *Store) voteIn(ctx context.Context, tx *sql.Tx, c Click, decide Decider, owner string, lease time.Duration) (VoteResult, error) {
	if s.pg {
		return s.voteInPG(ctx, tx, c, decide, owner, lease)
	}
	r, err := s.lockRequest(ctx, tx, c.RequestID)
	if err != nil {
		return VoteResult{}, err
	}
	res := VoteResult{Request: r}
	prior, err := s.clicks(ctx, tx, c.RequestID)
	if err != nil {
		return res, err
	}
	res.Clicks = prior
	// A Slack retry carries the same action_ts and user, so its replay key is among this request's clicks.
	if slices.ContainsFunc(prior, func(p Click) bool { return p.ReplayKey == c.ReplayKey }) {
		res.Outcome = VoteReplayed
		return res, nil
	}
	if r.State != StatePending {
		res.Outcome = VoteClosed
		return res, nil
	}
	for _, p := range prior {
		if p.Approver == c.Approver {
			res.Outcome = VoteDuplicate
			return res, nil
		}
	}
	// ON CONFLICT DO NOTHING: a conflict must not raise an error, which would abort the shared transaction.
	ins, err := s.exec(ctx, tx, sqlInsertClick,
		c.RequestID, c.Approver, c.Name, c.Decision, c.EventID, c.ReplayKey, ms(c.At))
	if err != nil {
		return res, fmt.Errorf("storing the click: %w", err)
	}
	if n, err := ins.RowsAffected(); err != nil || n == 0 {
		res.Outcome = VoteReplayed // the replay key was used on another request: the same Slack event
		return res, err
	}
	res.Clicks = append(prior, c)
	d, err := decide(r, res.Clicks)
	if err != nil {
		return res, err
	}
	if d != nil {
		if err := s.close(ctx, tx, r, d, c.At, owner, lease); err != nil {
			return res, err
		}
		res.Decided = d
		if owner != "" {
			res.Delivery = &Delivery{RequestID: r.ID, BuildURL: r.BuildURL, InputID: r.InputID, Decision: d.State, Params: d.Params, Attempts: 1,
				Controller: r.Controller, TraceID: r.TraceID, Service: r.Service, Environment: r.Environment}
		}
		res.Request.State = d.State
	}
	res.Outcome = VoteCounted
	return res, nil
}

func (s *Store) close(ctx context.Context, tx *sql.Tx, r Request, d *Decision, now time.Time, owner string, lease time.Duration) error {
	if _, err := s.exec(ctx, tx, sqlCloseRequest, d.State, ms(now), r.ID); err != nil {
		return fmt.Errorf("closing the request: %w", err)
	}
	until, attempts := int64(0), 0
	if owner != "" {
		until, attempts = ms(now.Add(lease)), 1 // on the relay clock, as Claim reads it
	}
	if _, err := s.exec(ctx, tx, sqlInsertOutbox,
		r.ID, d.State, string(d.Params), string(d.Record), ms(now), ms(now), owner, until, attempts); err != nil {
		return fmt.Errorf("queueing the answer to jenkins: %w", err)
	}
	return nil
}

// Close decides a pending request without a click (expiry); it reports false when the request was no longer pending.
func (s *Store) Decide(ctx context.Context, id string, now time.Time, decide Decider) (bool, Request, error) {
	var r Request
	done := false
	err := s.writeKeyed(ctx, id, func(tx *sql.Tx) error {
		var err error
		done = false
		r, err = s.lockRequest(ctx, tx, id)
		if errors.Is(err, sql.ErrNoRows) || errors.Is(err, ErrNotFound) {
			return logical{err}
		}
		if err != nil || r.State != StatePending {
			return err
		}
		cl, err := s.clicks(ctx, tx, id)
		if err != nil {
			return err
		}
		d, err := decide(r, cl)
		if err != nil {
			return logical{err}
		}
		if d == nil {
			return nil
		}
		if err := s.close(ctx, tx, r, d, now, "", 0); err != nil {
			return err
		}
		r.State, done = d.State, true
		return nil
	})
	var l logical
	if errors.As(err, &l) {
		err = l.err
	}
	return done, r, err
}

// Record returns the signed decision record of a decided request.
func (s *Store) Record(ctx context.Context, id string) ([]byte, string, error) {
	var rec, decision string
	err := s.rQueryRow(ctx, `SELECT record, decision FROM outbox WHERE request_id = ?`, id).Scan(&rec, &decision)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", ErrNotFound
	}
	return []byte(rec), decision, err
}

// Due returns pending requests whose deadline passed (expire) and those due for escalation.
func (s *Store) Due(ctx context.Context, now time.Time) (expire, escalate []string, err error) {
	rows, err := s.rdb.QueryContext(ctx, s.q(`SELECT id, deadline FROM requests WHERE state = ? AND (deadline <= ? OR (escalated = 0 AND escalate_at > 0 AND escalate_at <= ?))`),
		StatePending, ms(now), ms(now))
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var deadline int64
		if err := rows.Scan(&id, &deadline); err != nil {
			return nil, nil, err
		}
		if deadline <= ms(now) {
			expire = append(expire, id)
		} else {
			escalate = append(escalate, id)
		}
	}
	return expire, escalate, rows.Err()
}

// MarkEscalated claims the escalation of a request; only one caller (replica) gets true.
func (s *Store) MarkEscalated(ctx context.Context, id string) (bool, error) {
	var n int64
	err := s.writeKeyed(ctx, id, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, sqlMarkEscalated, id, StatePending)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n == 1, err
}

// Claim leases up to limit due outbox rows to owner until now+lease; other replicas skip leased rows.
func (s *Store) Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Delivery, error) {
	skip := ""
	if s.pg {
		skip = ` FOR UPDATE SKIP LOCKED`
	}
	var out []Delivery
	err := s.write(ctx, func(tx *sql.Tx) error {
		out = nil
		rows, err := s.query(ctx, tx, sqlClaim+skip, ms(now), ms(now), limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			var d Delivery
			var params string
			var started int64
			if err := rows.Scan(&d.RequestID, &d.BuildURL, &d.InputID, &d.Decision, &params, &d.Attempts, &started,
				&d.Controller, &d.TraceID, &d.Service, &d.Environment); err != nil {
				rows.Close()
				return err
			}
			d.Params, d.SubmitStarted = []byte(params), started != 0
			out = append(out, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, d := range out {
			if _, err := s.exec(ctx, tx, sqlLease,
				owner, ms(now.Add(lease)), d.RequestID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// StartSubmit notes that owner is about to POST the answer; it fails when owner lost the lease.
func (s *Store) StartSubmit(ctx context.Context, id, owner string, now time.Time) error {
	return s.writeKeyed(ctx, id, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, sqlStartSubmit, ms(now), id, owner)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return logical{errors.New("the outbox lease was lost")}
		}
		return nil
	})
}

// Delivered marks an outbox row done with an outcome (submitted, presumed-submitted, build-finished).
func (s *Store) Delivered(ctx context.Context, id, outcome string, now time.Time) error {
	return s.writeKeyed(ctx, id, func(tx *sql.Tx) error {
		_, err := s.exec(ctx, tx, sqlDelivered, ms(now), outcome, id)
		return err
	})
}

// Retry releases an outbox row for another attempt at next.
func (s *Store) Retry(ctx context.Context, id string, next time.Time, why string) error {
	return s.writeKeyed(ctx, id, func(tx *sql.Tx) error {
		_, err := s.exec(ctx, tx, sqlRetry, ms(next), why, id)
		return err
	})
}

// Outbox reports a row's delivery: when, how, and attempts.
func (s *Store) Outbox(ctx context.Context, id string) (delivered time.Time, outcome string, attempts int, err error) {
	var at int64
	err = s.rQueryRow(ctx, `SELECT delivered_at, outcome, attempts FROM outbox WHERE request_id = ?`, id).Scan(&at, &outcome, &attempts)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	return fromMS(at), outcome, attempts, err
}

// Undelivered counts outbox rows not yet delivered.
func (s *Store) Undelivered(ctx context.Context) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE delivered_at = 0`).Scan(&n)
	return n, err
}

// writeQueries lists the statements writeSQL registered; Open prepares them on SQLite.
var writeQueries []string

// writeSQL registers a statement of the write path.
func writeSQL(q string) string {
	writeQueries = append(writeQueries, q)
	return q
}

// prepare readies the write path's statements on SQLite's writer connection and read pool. PostgreSQL needs none:
// pgx already caches a prepared statement per connection and query.
func (s *Store) prepare(ctx context.Context) error {
	if s.pg {
		return nil
	}
	s.wstmts, s.rstmts = map[string]*sql.Stmt{}, map[string]*sql.Stmt{}
	for _, q := range writeQueries {
		st, err := s.db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("preparing %q: %w", q, err)
		}
		s.wstmts[q] = st
		if strings.HasPrefix(q, "SELECT") {
			if st, err = s.rdb.PrepareContext(ctx, q); err != nil {
				return fmt.Errorf("preparing %q: %w", q, err)
			}
			s.rstmts[q] = st
		}
	}
	return nil
}

// exec runs a write-path statement in tx, prepared when Open prepared it.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st, ok := s.wstmts[query]; ok {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, s.q(query), args...)
}

func (s *Store) query(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if st, ok := s.wstmts[query]; ok {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, s.q(query), args...)
}

func (s *Store) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st, ok := s.wstmts[query]; ok {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, s.q(query), args...)
}

// rQuery and rQueryRow read from the read pool.
func (s *Store) rQuery(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st, ok := s.rstmts[query]; ok {
		return st.QueryContext(ctx, args...)
	}
	return s.rdb.QueryContext(ctx, s.q(query), args...)
}

func (s *Store) rQueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st, ok := s.rstmts[query]; ok {
		return st.QueryRowContext(ctx, args...)
	}
	return s.rdb.QueryRowContext(ctx, s.q(query), args...)
}

// pgCountAndClose stores a deciding click, closes its request and queues the answer in one statement; the close
// and the outbox row happen only when the click was stored (a replay key used elsewhere stores nothing).
const pgCountAndClose = `WITH ins AS (
	INSERT INTO clicks (request_id, approver, name, decision, event_id, replay_key, at)
	VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::bigint) ON CONFLICT DO NOTHING RETURNING request_id
), upd AS (
	UPDATE requests SET state = $8::text, decided_at = $9::bigint WHERE id = $1::text AND EXISTS (SELECT 1 FROM ins)
), box AS (
	INSERT INTO outbox (request_id, decision, params, record, created_at, next_attempt, lease_owner, lease_until, attempts)
	SELECT request_id, $8::text, $10::text, $11::text, $9::bigint, $9::bigint, $12::text, $13::bigint, $14::integer FROM ins
) SELECT count(*) FROM ins`

// voteInPG is voteIn in three round trips on PostgreSQL (five for a deciding click before): lock the request, read
// its clicks, then store the click and, when it decides, close the request and queue the answer in one statement.
// The decision is computed before the insert from the locked clicks plus this one, the set the insert leaves.
func (s *Store) voteInPG(ctx context.Context, tx *sql.Tx, c Click, decide Decider, owner string, lease time.Duration) (VoteResult, error) {
	// Two statements: the clicks must be read after the row lock is held, so a statement snapshot taken before
	// waiting for it never hides a click its holder committed.
	r, err := s.lockRequest(ctx, tx, c.RequestID)
	if err != nil {
		return VoteResult{}, err
	}
	prior, err := s.clicks(ctx, tx, c.RequestID)
	if err != nil {
		return VoteResult{Request: r}, err
	}
	res := VoteResult{Request: r, Clicks: prior}
	if slices.ContainsFunc(prior, func(p Click) bool { return p.ReplayKey == c.ReplayKey }) {
		res.Outcome = VoteReplayed
		return res, nil
	}
	if r.State != StatePending {
		res.Outcome = VoteClosed
		return res, nil
	}
	if slices.ContainsFunc(prior, func(p Click) bool { return p.Approver == c.Approver }) {
		res.Outcome = VoteDuplicate
		return res, nil
	}
	all := append(slices.Clip(prior), c)
	d, err := decide(r, all)
	if err != nil {
		return res, err
	}
	var stored int64
	if d == nil {
		ins, err := s.exec(ctx, tx, sqlInsertClick, c.RequestID, c.Approver, c.Name, c.Decision, c.EventID, c.ReplayKey, ms(c.At))
		if err != nil {
			return res, fmt.Errorf("storing the click: %w", err)
		}
		if stored, err = ins.RowsAffected(); err != nil {
			return res, err
		}
	} else {
		until, attempts := int64(0), 0
		if owner != "" {
			until, attempts = ms(c.At.Add(lease)), 1 // on the relay clock, as Claim reads it
		}
		if err := tx.QueryRowContext(ctx, pgCountAndClose, c.RequestID, c.Approver, c.Name, c.Decision, c.EventID, c.ReplayKey, ms(c.At),
			d.State, ms(c.At), string(d.Params), string(d.Record), owner, until, attempts).Scan(&stored); err != nil {
			return res, fmt.Errorf("storing the deciding click: %w", err)
		}
	}
	if stored == 0 {
		res.Outcome = VoteReplayed // the replay key was used on another request: the same Slack event
		return res, nil
	}
	res.Clicks = all
	if d != nil {
		res.Decided = d
		if owner != "" {
			res.Delivery = &Delivery{RequestID: r.ID, BuildURL: r.BuildURL, InputID: r.InputID, Decision: d.State, Params: d.Params, Attempts: 1,
				Controller: r.Controller, TraceID: r.TraceID, Service: r.Service, Environment: r.Environment}
		}
		res.Request.State = d.State
	}
	res.Outcome = VoteCounted
	return res, nil
}
