// Package store keeps the relay's durable state (requests, clicks, the outbox) in SQLite or PostgreSQL.
package store
