// Package peertest finds the peer CLIs (cosign, notation) that interop tests run; missing ones fail under RG_REQUIRE_TOOLS=1.
package peertest
