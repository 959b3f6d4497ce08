// Package gobin reads a Go binary's build information and checks its platform and VCS state before signing.
package gobin
