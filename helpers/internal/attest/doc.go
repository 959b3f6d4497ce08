// Package attest signs release attestations (SLSA provenance, approvals) and runs the attestRelease step.
package attest
