// Package keyring reads and rewrites keys.yaml, the versioned key registry: key states, validity, rotation policy and the current key per environment.
package keyring
