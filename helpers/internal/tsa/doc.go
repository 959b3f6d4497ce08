// Package tsa connects notation signing to an RFC 3161 timestamp authority, so signatures outlive their certificates.
package tsa
