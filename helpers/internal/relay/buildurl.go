package relay

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// ErrOutsideJenkins means a build URL is not a build of the controller's configured Jenkins.
var ErrOutsideJenkins = errors.New("build URL is not a build of the configured Jenkins")

var buildTail = regexp.MustCompile(`^job/[^/]+(/job/[^/]+)*/[0-9]+$`)

// ParseJenkinsURL parses a controller's Jenkins URL: absolute http(s), no userinfo, query or fragment.
func ParseJenkinsURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("jenkins url %q: use an absolute http(s) URL without user, query or fragment", raw)
	}
	if err := cleanPath(u); err != nil {
		return nil, fmt.Errorf("jenkins url %q: %w", raw, err)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

func cleanPath(u *url.URL) error {
	raw := u.EscapedPath()
	low := strings.ToLower(raw)
	for _, bad := range []string{"%2f", "%5c", "%2e", "%00", "\\"} {
		if strings.Contains(low, bad) {
			return fmt.Errorf("encoded separators or dots (%s) are not allowed", bad)
		}
	}
	for i, seg := range strings.Split(strings.Trim(raw, "/"), "/") {
		if seg == "." || seg == ".." || (seg == "" && raw != "" && raw != "/" && i >= 0) {
			return errors.New("dot or empty path segments are not allowed")
		}
	}
	return nil
}

func hostPort(u *url.URL) string {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(host, port)
}

// NormalizeBuildURL returns the canonical form of raw ({jenkins}/job/.../N/) when it is a build under base,
// comparing scheme, host, port and the path prefix on segment boundaries.
func NormalizeBuildURL(raw string, base *url.URL) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%w: %q does not parse", ErrOutsideJenkins, raw)
	}
	switch {
	case u.User != nil:
		return "", fmt.Errorf("%w: user info in the URL is not allowed", ErrOutsideJenkins)
	case u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return "", fmt.Errorf("%w: query, fragment or opaque URLs are not allowed", ErrOutsideJenkins)
	case !strings.EqualFold(u.Scheme, base.Scheme) || hostPort(u) != hostPort(base):
		return "", fmt.Errorf("%w: scheme, host or port differ from %s", ErrOutsideJenkins, base.Redacted())
	}
	if err := cleanPath(u); err != nil {
		return "", fmt.Errorf("%w: %v", ErrOutsideJenkins, err)
	}
	p := strings.TrimRight(u.EscapedPath(), "/")
	prefix := base.EscapedPath()
	if prefix != "" && !strings.HasPrefix(p, prefix+"/") {
		return "", fmt.Errorf("%w: the path is not under %s", ErrOutsideJenkins, prefix)
	}
	tail := strings.TrimPrefix(p[len(prefix):], "/")
	if !buildTail.MatchString(tail) {
		return "", fmt.Errorf("%w: the path must end in job/<name>/.../<build number>", ErrOutsideJenkins)
	}
	return strings.ToLower(base.Scheme) + "://" + base.Host + prefix + "/" + tail + "/", nil
}
