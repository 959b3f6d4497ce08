package result

import (
	"errors"
	"fmt"
)

// Exit codes shared by every helper; the Groovy runner maps each to an error message.
const (
	ExitPassed      = 0 // the thing checked is good
	ExitRejected    = 1 // the thing checked is bad: breaking change, invalid signature, denied approval
	ExitInput       = 2 // bad invocation, configuration or input
	ExitUnavailable = 3 // infrastructure unavailable after retries, or a circuit breaker is open
	ExitInternal    = 4 // a helper bug: a panic or an error no package classified
)

// BugPrefix starts the message of every internal failure, so the user knows to report it rather than fix their input.
const BugPrefix = "helper bug, please report: "

// Class is a failure class; it decides the exit code and whether a retry is worth it.
type Class string

// Failure classes, one table used by every helper.
const (
	ClassRejected    Class = "rejected"    // a gate or policy said no
	ClassTamper      Class = "tamper"      // digest mismatch, invalid signature, edited record
	ClassPolicy      Class = "policy"      // key state, approval rule or trust policy refused
	ClassInput       Class = "input"       // bad flag, missing file, unparsable document
	ClassConfig      Class = "config"      // inconsistent configuration
	ClassAuth        Class = "auth"        // wrong password or PIN, registry or API auth refused
	ClassKey         Class = "key"         // key missing, expired, revoked or unusable
	ClassTransient   Class = "transient"   // timeouts, resets, 5xx, 429: worth a retry
	ClassUnavailable Class = "unavailable" // retries exhausted or breaker open
	ClassInternal    Class = "internal"    // a bug in the helper
)

// ExitCode returns the process exit code for a failure class.
func (c Class) ExitCode() int {
	switch c {
	case "":
		return ExitPassed
	case ClassRejected, ClassTamper, ClassPolicy:
		return ExitRejected
	case ClassTransient, ClassUnavailable:
		return ExitUnavailable
	case ClassInternal:
		return ExitInternal
	default:
		return ExitInput
	}
}

// Retryable reports whether an error of this class is worth another try.
func (c Class) Retryable() bool { return c == ClassTransient }

// Status returns the result-file status word for a failure class.
func (c Class) Status() string {
	switch c.ExitCode() {
	case ExitPassed:
		return StatusPassed
	case ExitRejected:
		return StatusRejected
	case ExitUnavailable:
		return StatusUnavailable
	default:
		return StatusError
	}
}

// Error is an error with a failure class.
type Error struct {
	Class Class
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns a classified error formatted like fmt.Errorf.
func Errorf(class Class, format string, args ...any) error {
	return &Error{Class: class, Err: fmt.Errorf(format, args...)}
}

// Wrap classifies err; it returns nil for a nil err and keeps an existing inner class.
func Wrap(class Class, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Class: class, Err: err}
}

// ClassOf returns the failure class of err: "" for nil, ClassInternal when unclassified.
func ClassOf(err error) Class {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return ClassInternal
}
