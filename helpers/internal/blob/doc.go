// Package blob signs and verifies files with cosign-compatible detached signatures, streaming each file once.
package blob
