// Package signing runs the signArtifacts flow (key choice, blob sign and verify, image sign and verify) for the step and the verbs.
package signing
