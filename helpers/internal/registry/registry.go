package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	orasremote "oras.land/oras-go/v2/registry/remote"
	orasauth "oras.land/oras-go/v2/registry/remote/auth"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/retry"
	"github.com/release-gates/release-gates/helpers/internal/vocab"
)

// Env names of the registry credential (a Jenkins usernamePassword binding); secrets never come from flags.
const (
	UsernameEnv = "REGISTRY_USERNAME"
	PasswordEnv = "REGISTRY_PASSWORD"
)

// Options configure registry access.
type Options struct {
	PlainHTTP  bool              // allow plain HTTP; without it every http:// request is refused
	ConfigDir  string            // docker config dir holding config.json; "" means $DOCKER_CONFIG or ~/.docker
	Username   string            // registry user; with Password it overrides the docker config
	Password   string            // registry password or token; never logged
	Attempts   int               // tries per operation (retry.Do) for transient failures; default 3
	Backoff    time.Duration     // first pause between tries, doubled each time (with jitter); default 200ms
	MaxBackoff time.Duration     // cap on one pause and on an honoured Retry-After; default 10s
	Transport  http.RoundTripper // replaces the default resilient transport (per-request retries + per-host breaker)
	Breakers   *breaker.Set      // breakers of the default transport; nil: breaker.FromEnv() (state shared on the agent)
	// MaxRequests caps the registry requests in flight at once across the client, whatever runs them (cosign,
	// notation, retries); 0 means DefaultMaxRequests. It is separate from how many images are signed at once.
	MaxRequests int
	// Sleep replaces the real pause between operation tries (retry.Policy.Sleep), for tests; nil sleeps.
	Sleep func(time.Duration)
	// Spell names PlainHTTP in errors as the caller's user writes it; nil: the helper flag.
	Spell vocab.Spelling
}

// DefaultMaxRequests is the registry requests in flight at once when Options.MaxRequests is 0.
const DefaultMaxRequests = 16

// Client talks to registries for go-containerregistry (cosign) and oras (notation) with one credential source.
type Client struct {
	opts       Options
	transport  http.RoundTripper
	keychain   authn.Keychain
	retryAfter *retryAfters
	// noReferrers holds the hosts that answered a referrers API request 404: they have no referrers API
	// (OCI distribution spec 1.1), so later repositories there go straight to the sha256-<hex> tag.
	noReferrers *sync.Map

	once   sync.Once
	puller *remote.Puller // share pinged, authenticated transports across calls
	pusher *remote.Pusher
}

// New returns a Client; it reads the docker config lazily, per registry host.
func New(opts Options) *Client {
	if opts.Attempts <= 0 {
		opts.Attempts = 3
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 200 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = retry.Default.Max
	}
	if opts.MaxRequests <= 0 {
		opts.MaxRequests = DefaultMaxRequests
	}
	base := opts.Transport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		t.ResponseHeaderTimeout = 60 * time.Second
		t.MaxIdleConnsPerHost = opts.MaxRequests // keep a connection per slot: the default 2 would reconnect per request
		set := opts.Breakers
		if set == nil {
			set = breaker.FromEnv()
		}
		base = breaker.Stack(t, set, retry.RequestDefault)
	}
	base = &limiter{next: base, slots: make(chan struct{}, opts.MaxRequests)}
	ra, nr := &retryAfters{}, &sync.Map{}
	c := &Client{opts: opts, transport: &schemeGuard{next: base, plainHTTP: opts.PlainHTTP, spell: opts.Spell, retryAfter: ra, noReferrers: nr}, retryAfter: ra, noReferrers: nr}
	c.keychain = keychain{c}
	return c
}

// PlainHTTP reports whether plain HTTP is allowed.
func (c *Client) PlainHTTP() bool { return c.opts.PlainHTTP }

// Transport returns the guarded transport shared by every registry call.
func (c *Client) Transport() http.RoundTripper { return c.transport }

// Keychain returns the credential source as a go-containerregistry keychain.
func (c *Client) Keychain() authn.Keychain { return c.keychain }

// NameOptions returns the reference parsing options matching the client's HTTP setting.
func (c *Client) NameOptions() []name.Option {
	if c.opts.PlainHTTP {
		return []name.Option{name.Insecure}
	}
	return nil
}

// RemoteOptions returns go-containerregistry options: auth, transport, context; ggcr's own retries are off (we retry per operation).
// A shared Puller and Pusher save the /v2/ ping and token exchange on every call after the first per repository.
func (c *Client) RemoteOptions(ctx context.Context) []remote.Option {
	base := []remote.Option{
		remote.WithAuthFromKeychain(c.keychain),
		remote.WithTransport(c.transport),
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
	}
	c.once.Do(func() {
		c.puller, _ = remote.NewPuller(base...)
		c.pusher, _ = remote.NewPusher(base...)
	})
	opts := append([]remote.Option{remote.WithContext(ctx)}, base...)
	if c.puller != nil && c.pusher != nil {
		opts = append(opts, remote.Reuse(c.puller), remote.Reuse(c.pusher))
	}
	return opts
}

// Repository returns an oras repository for notation, with the same credentials and HTTP setting.
func (c *Client) Repository(repo name.Repository) (*orasremote.Repository, error) {
	r, err := orasremote.NewRepository(repo.Name())
	if err != nil {
		return nil, result.Errorf(result.ClassInput, "repository %s: %v", repo.Name(), err)
	}
	r.PlainHTTP = c.opts.PlainHTTP
	if _, no := c.noReferrers.Load(repo.RegistryStr()); no {
		_ = r.SetReferrersCapability(false) // a fresh repository: it cannot have been set already
	}
	r.Client = &orasauth.Client{
		Client: &http.Client{Transport: c.transport},
		Cache:  orasauth.NewCache(),
		Credential: func(ctx context.Context, hostport string) (orasauth.Credential, error) {
			cfg, err := c.credential(hostport)
			if err != nil {
				return orasauth.EmptyCredential, err
			}
			return orasauth.Credential{Username: cfg.Username, Password: cfg.Password, AccessToken: cfg.RegistryToken, RefreshToken: cfg.IdentityToken}, nil
		},
	}
	return r, nil
}

// credential finds the credential for a registry host: env first, then the docker config.
func (c *Client) credential(host string) (authn.AuthConfig, error) {
	if c.opts.Username != "" || c.opts.Password != "" {
		return authn.AuthConfig{Username: c.opts.Username, Password: c.opts.Password}, nil
	}
	cf, err := config.Load(c.opts.ConfigDir)
	if err != nil {
		return authn.AuthConfig{}, result.Errorf(result.ClassConfig, "reading docker config in %q: %v", c.opts.ConfigDir, err)
	}
	key := host
	if key == name.DefaultRegistry {
		key = authn.DefaultAuthKey
	}
	ac, err := cf.GetAuthConfig(key)
	if err != nil {
		return authn.AuthConfig{}, result.Errorf(result.ClassConfig, "reading credentials for %s from docker config: %v", host, err)
	}
	return authn.AuthConfig{Username: ac.Username, Password: ac.Password, Auth: ac.Auth, IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}, nil
}

type keychain struct{ c *Client }

func (k keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	cfg, err := k.c.credential(r.RegistryStr())
	if err != nil {
		return nil, err
	}
	if cfg == (authn.AuthConfig{}) {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(cfg), nil
}

// OptPlainHTTP is the option that allows plain HTTP, as vocab spells it for the user.
const OptPlainHTTP vocab.Option = "plain-http"

// errPlainHTTP marks a request refused because plain HTTP was not allowed.
var errPlainHTTP = errors.New("plain HTTP refused")

// schemeGuard refuses http:// requests unless plain HTTP was asked for: go-containerregistry silently falls back to HTTP for loopback hosts.
// It also notes a Retry-After for Client.Retry.
type schemeGuard struct {
	next        http.RoundTripper
	plainHTTP   bool
	spell       vocab.Spelling
	retryAfter  *retryAfters
	noReferrers *sync.Map
}

func (g *schemeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.plainHTTP {
		return nil, fmt.Errorf("%w: registry %s speaks plain HTTP; set %s if that is intended", errPlainHTTP, req.URL.Host, vocab.Say(g.spell, OptPlainHTTP, true))
	}
	resp, err := g.next.RoundTrip(req)
	if err == nil && g.retryAfter != nil {
		g.retryAfter.note(req.URL.Host, resp)
	}
	if err == nil && g.noReferrers != nil && resp.StatusCode == http.StatusNotFound && req.Method == http.MethodGet &&
		strings.HasPrefix(req.URL.Path, "/v2/") && strings.Contains(req.URL.Path, "/referrers/") {
		g.noReferrers.Store(req.URL.Host, true)
	}
	return resp, err
}

// limiter holds a slot from sending a request until its response headers arrive (or it fails), retries included,
// so a registry never sees more than cap(slots) requests from this client at once. Response bodies are read
// outside the slot: a caller holding one open while it sends the next request can never deadlock.
type limiter struct {
	next  http.RoundTripper
	slots chan struct{}
}

func (l *limiter) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case l.slots <- struct{}{}:
	case <-req.Context().Done():
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, req.Context().Err()
	}
	defer func() { <-l.slots }()
	return l.next.RoundTrip(req)
}

// Target is an image resolved to its digest.
type Target struct {
	Given      string        // the reference as given
	Digest     name.Digest   // repo@sha256:..., what gets signed
	Descriptor v1.Descriptor // media type, size and digest of the manifest
}

// Reference is a parsed image reference: a tag, a digest, or both (repo:tag@sha256:...).
type Reference struct {
	Given  string
	Repo   name.Repository
	Tag    string  // "" when only a digest was given
	Digest v1.Hash // zero when only a tag was given
}

// String returns the reference as given.
func (r Reference) String() string { return r.Given }

// Parse parses repo:tag, repo@sha256:... or repo:tag@sha256:....
func (c *Client) Parse(s string) (Reference, error) {
	bad := func(err error) (Reference, error) {
		return Reference{}, result.Errorf(result.ClassInput, "image %q: %v: use registry/repo:tag or registry/repo@sha256:<hex>", s, err)
	}
	ref := Reference{Given: s}
	base := s
	if i := strings.LastIndex(s, "@"); i >= 0 {
		h, err := v1.NewHash(s[i+1:])
		if err != nil {
			return bad(err)
		}
		ref.Digest, base = h, s[:i]
	}
	opts := append(c.NameOptions(), name.StrictValidation)
	if ref.Digest != (v1.Hash{}) {
		if slash, colon := strings.LastIndex(base, "/"), strings.LastIndex(base, ":"); colon <= slash {
			repo, err := name.NewRepository(base, opts...)
			if err != nil {
				return bad(err)
			}
			ref.Repo = repo
			return ref, nil
		}
	}
	t, err := name.NewTag(base, opts...)
	if err != nil {
		return bad(err)
	}
	ref.Repo, ref.Tag = t.Context(), t.TagStr()
	return ref, nil
}

// Resolve turns a reference into its digest with a HEAD (GET when HEAD gives no digest).
// When the reference carries both a tag and a digest, or expect is set, a mismatch is a ClassTamper error.
func (c *Client) Resolve(ctx context.Context, ref Reference, expect v1.Hash) (Target, error) {
	var desc *v1.Descriptor
	id := ref.Tag
	if ref.Digest != (v1.Hash{}) && ref.Tag == "" {
		id = ref.Digest.String()
	}
	r, err := name.ParseReference(refString(ref.Repo, id), c.NameOptions()...)
	if err != nil {
		return Target{}, result.Errorf(result.ClassInput, "image %q: %v", ref.Given, err)
	}
	err = c.Retry(ctx, "resolving "+ref.Given, func() error {
		d, err := remote.Head(r, c.RemoteOptions(ctx)...)
		if err != nil {
			if cls := result.ClassOf(Classify(err, "")); cls != result.ClassInternal {
				return err
			}
			// Some registries give no digest on HEAD; GET computes it from the manifest.
			gd, gerr := remote.Get(r, c.RemoteOptions(ctx)...)
			if gerr != nil {
				return gerr
			}
			d = &gd.Descriptor
		}
		desc = d
		return nil
	})
	if err != nil {
		return Target{}, err
	}
	for _, want := range []v1.Hash{ref.Digest, expect} {
		if want != (v1.Hash{}) && want != desc.Digest {
			return Target{}, result.Errorf(result.ClassTamper, "image %s now resolves to %s, expected %s: the tag moved; refusing to sign", ref.Given, desc.Digest, want)
		}
	}
	return Target{Given: ref.Given, Digest: ref.Repo.Digest(desc.Digest.String()), Descriptor: *desc}, nil
}

func refString(repo name.Repository, id string) string {
	if strings.HasPrefix(id, "sha256:") || strings.Contains(id, ":") {
		return repo.Name() + "@" + id
	}
	return repo.Name() + ":" + id
}
