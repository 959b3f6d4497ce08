// Package version holds the library version stamped into every helper at link time.
package version

// Version is the release-gates version; `make helpers` sets it with -ldflags -X.
var Version = "dev"

// Revision is the git revision the helpers were built from; set with -ldflags -X.
var Revision = "unknown"
