// Package vsa issues and checks signed SLSA Verification Summary Attestations (verification_summary/v1) for released images.
package vsa
