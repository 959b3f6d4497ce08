// Package audit writes the approval journal: one unsigned JSON line per approval event (request, click, expiry), each with a single O_APPEND write; the signed record is the ledger (package ledger).
package audit
