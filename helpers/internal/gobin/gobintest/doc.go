// Package gobintest builds small Go binaries with VCS stamps for tests of the Go binary checks.
package gobintest
