// Package systemd holds the approval relay's systemd unit example; its test checks it with systemd-analyze verify.
package systemd
