package store

import (
	"context"
	"fmt"
	"time"
)

// migrations are applied in order, each once; never edit a released one, append a new one.
var migrations = []string{
	// 1: requests, clicks, outbox.
	`CREATE TABLE requests (
		id TEXT PRIMARY KEY,
		input_id TEXT NOT NULL,
		controller TEXT NOT NULL,
		build_url TEXT NOT NULL,
		trace_id TEXT NOT NULL,
		service TEXT NOT NULL,
		environment TEXT NOT NULL,
		version TEXT NOT NULL,
		commit_sha TEXT NOT NULL,
		branch TEXT NOT NULL,
		digests TEXT NOT NULL,
		summary TEXT NOT NULL,
		rule TEXT NOT NULL,
		requesters TEXT NOT NULL,
		channel TEXT NOT NULL,
		message_ts TEXT NOT NULL,
		state TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		deadline BIGINT NOT NULL,
		escalate_at BIGINT NOT NULL,
		escalated INTEGER NOT NULL,
		decided_at BIGINT NOT NULL DEFAULT 0,
		UNIQUE (build_url, input_id)
	);
	CREATE INDEX requests_due ON requests (state, deadline);
	CREATE TABLE clicks (
		request_id TEXT NOT NULL REFERENCES requests (id),
		approver TEXT NOT NULL,
		name TEXT NOT NULL,
		decision TEXT NOT NULL,
		event_id TEXT NOT NULL,
		replay_key TEXT NOT NULL UNIQUE,
		at BIGINT NOT NULL,
		PRIMARY KEY (request_id, approver)
	);
	CREATE TABLE outbox (
		request_id TEXT PRIMARY KEY REFERENCES requests (id),
		decision TEXT NOT NULL,
		params TEXT NOT NULL,
		record TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		next_attempt BIGINT NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		lease_owner TEXT NOT NULL DEFAULT '',
		lease_until BIGINT NOT NULL DEFAULT 0,
		submit_started BIGINT NOT NULL DEFAULT 0,
		delivered_at BIGINT NOT NULL DEFAULT 0,
		outcome TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX outbox_due ON outbox (delivered_at, next_attempt);`,
}

// SchemaVersion is the schema version this build migrates to.
var SchemaVersion = len(migrations)

func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.db.Conn(ctx) // one connection: the advisory lock belongs to a session
	if err != nil {
		return fmt.Errorf("database: connecting: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("database: creating schema_migrations: %w", err)
	}
	if s.pg {
		// Replicas starting together: one migrates, the others wait for it.
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7245001)`); err != nil {
			return fmt.Errorf("database: migration lock: %w", err)
		}
		defer func() { _, _ = conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(7245001)`) }()
	}
	var have int
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("database: reading the schema version: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("database: schema version %d is newer than this relay knows (%d): upgrade the relay", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("database: migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), v, time.Now().UnixMilli()); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("database: migration %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("database: migration %d: %w", v, err)
		}
	}
	return nil
}
