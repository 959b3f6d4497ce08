// Package audit appends one JSON line per approval event, each with a single O_APPEND write.
package audit
