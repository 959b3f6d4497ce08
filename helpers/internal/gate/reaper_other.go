//go:build !linux

package gate

import "errors"

// becomeSubreaper is Linux-only: elsewhere daemonized descendants escape to init.
func becomeSubreaper() error {
	return errors.New("child subreaper needs Linux")
}
