// Package agentimage holds the tests that keep the agent image's Dockerfile pinned, non-root, in step with the Makefile, and the helpers reproducible.
package agentimage
