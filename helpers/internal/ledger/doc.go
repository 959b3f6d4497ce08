// Package ledger keeps a release's audit chain: append-only JSON lines, each hash-linked to the previous one and signed.
package ledger
