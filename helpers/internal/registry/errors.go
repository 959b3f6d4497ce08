package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Classify gives a registry error its failure class; what names the action for the message ("" keeps the message).
// A classified error keeps its class.
func Classify(err error, what string) error {
	if err == nil {
		return nil
	}
	if result.ClassOf(err) != result.ClassInternal {
		return err
	}
	msg := redact(err.Error())
	if what != "" {
		msg = what + ": " + msg
	}
	return result.Errorf(classOf(err), "%s", msg+hint(err))
}

func classOf(err error) result.Class {
	if errors.Is(err, errPlainHTTP) || strings.Contains(err.Error(), errPlainHTTP.Error()) {
		return result.ClassConfig
	}
	if errors.Is(err, context.Canceled) {
		return result.ClassUnavailable
	}
	if isNotFound(err) {
		return result.ClassInput
	}
	if code := statusCode(err); code != 0 {
		switch {
		case code == http.StatusUnauthorized || code == http.StatusForbidden:
			return result.ClassAuth
		case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
			return result.ClassTransient
		case code == http.StatusNotFound:
			return result.ClassInput
		}
		return result.ClassInternal
	}
	var certErr *tls.CertificateVerificationError
	var uaErr x509.UnknownAuthorityError
	if errors.As(err, &certErr) || errors.As(err, &uaErr) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return result.ClassConfig
	}
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, context.DeadlineExceeded):
		return result.ClassTransient
	case errors.As(err, &netErr):
		return result.ClassTransient
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return result.ClassTransient
	}
	if strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "connection reset") {
		return result.ClassTransient
	}
	return result.ClassInternal
}

// isNotFound reports a missing repository or manifest (ggcr, oras and HEAD-without-body forms).
func isNotFound(err error) bool {
	var terr *transport.Error
	if errors.As(err, &terr) {
		if terr.StatusCode == http.StatusNotFound {
			return true
		}
		for _, d := range terr.Errors {
			if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
				return true
			}
		}
	}
	return errors.Is(err, errdef.ErrNotFound)
}

func statusCode(err error) int {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode
	}
	var oerr *errcode.ErrorResponse
	if errors.As(err, &oerr) {
		return oerr.StatusCode
	}
	return 0
}

func hint(err error) string {
	switch classOf(err) {
	case result.ClassAuth:
		return " (check REGISTRY_USERNAME/REGISTRY_PASSWORD or the docker config given by --registry-config)"
	case result.ClassInput:
		if isNotFound(err) {
			return " (image not found: check the repository and tag or digest)"
		}
	case result.ClassConfig:
		if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
			return " (the registry speaks plain HTTP: pass --plain-http)"
		}
	}
	return ""
}

// redact drops URL query strings (tokens can ride there) from an error text.
func redact(s string) string {
	fields := strings.Fields(s)
	for i, f := range fields {
		trimmed := strings.Trim(f, `"'`)
		if u, err := url.Parse(trimmed); err == nil && u.Scheme != "" && u.RawQuery != "" {
			u.RawQuery = "REDACTED"
			fields[i] = strings.Replace(f, trimmed, u.String(), 1)
		}
	}
	return strings.Join(fields, " ")
}

// Retry runs fn up to Attempts times while it fails with a transient error, then classifies the last error.
// An exhausted transient failure becomes ClassUnavailable.
func (c *Client) Retry(ctx context.Context, what string, fn func() error) error {
	wait := c.opts.Backoff
	var err error
	for attempt := 1; ; attempt++ {
		err = fn()
		if err == nil {
			return nil
		}
		if result.ClassOf(Classify(err, "")) != result.ClassTransient || attempt >= c.opts.Attempts {
			break
		}
		select {
		case <-ctx.Done():
			return result.Errorf(result.ClassUnavailable, "%s: interrupted: %v", what, ctx.Err())
		case <-time.After(wait):
		}
		wait *= 2
	}
	if cerr := Classify(err, ""); result.ClassOf(cerr) == result.ClassTransient {
		return result.Errorf(result.ClassUnavailable, "%s: registry unavailable after %d attempts: %v", what, c.opts.Attempts, cerr)
	}
	return Classify(err, what)
}
