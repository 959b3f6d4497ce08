// Package sigtag keeps read-modify-write signature tags (cosign's sha256-<hex>.sig and .att) whole when several signers write one: a per-digest lock on the agent, and write-check-merge against signers on other agents.
package sigtag
