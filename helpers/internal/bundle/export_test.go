package bundle

// SetSupported switches bundle support for a test, as a nobundle build does, and returns the restore func.
func SetSupported(v bool) func() {
	old := supported
	supported = v
	return func() { supported = old }
}
