// Package resiliencetest holds fault-injection integration tests: a fault proxy in front of the real registry, SoftHSM faults, and key rotation end to end.
package resiliencetest
