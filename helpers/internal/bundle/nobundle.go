//go:build nobundle

package bundle

// A nobundle build reports every sigstore bundle as unsupported (exit 2).
func init() { supported = false }
