package relay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/decision"
	"github.com/release-gates/release-gates/helpers/internal/jenkins"
	"github.com/release-gates/release-gates/helpers/internal/rbac"
)

// Secret names where a secret lives: an environment variable or a file (e.g. a mounted Kubernetes Secret).
type Secret struct {
	Env  string `yaml:"env,omitempty"`
	File string `yaml:"file,omitempty"`
}

// Value reads the secret; the error names where it looked, never the value.
func (s Secret) Value(what string) (string, error) {
	switch {
	case s.Env != "" && s.File != "":
		return "", fmt.Errorf("%s: set env or file, not both", what)
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("%s: cannot read %s: %v", what, s.File, errors.Unwrap(err))
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("%s: %s is empty", what, s.File)
		}
		return v, nil
	case s.Env != "":
		if v := os.Getenv(s.Env); v != "" {
			return v, nil
		}
		return "", fmt.Errorf("%s: $%s is not set", what, s.Env)
	}
	return "", fmt.Errorf("%s: name an env var or a file", what)
}

// FileConfig is the relay's config file (see README "Running the approval relay"); unknown keys are errors.
type FileConfig struct {
	Listen string `yaml:"listen"`
	// Mode is http (Slack posts to /slack/interactions) or socket (Socket Mode; /v1 still served on Listen).
	Mode string `yaml:"mode"`
	// Database is sqlite:PATH; a postgres:// URL holds a password, so give it as DatabaseURL instead.
	Database    string `yaml:"database,omitempty"`
	DatabaseURL Secret `yaml:"databaseURL,omitempty"`
	RBAC        string `yaml:"rbac"`
	Audit       string `yaml:"audit,omitempty"`
	// DecisionKey is the PEM ECDSA P-256 key that signs decision records.
	DecisionKey string `yaml:"decisionKey"`
	Replica     string `yaml:"replica,omitempty"`
	Slack       struct {
		APIURL        string `yaml:"apiURL,omitempty"`
		BotToken      Secret `yaml:"botToken"`
		SigningSecret Secret `yaml:"signingSecret,omitempty"`
		AppToken      Secret `yaml:"appToken,omitempty"`
	} `yaml:"slack"`
	Controllers []struct {
		Name string `yaml:"name"`
		URL  string `yaml:"url"`
		// User is the relay's Jenkins account, the input's submitter; APIToken is its Jenkins API token.
		User     string `yaml:"user"`
		APIToken Secret `yaml:"apiToken"`
		// CredentialSHA256 is the hex sha256 of the bearer credential the controller's pipelines hold; or give
		// Credential itself.
		CredentialSHA256 string `yaml:"credentialSHA256,omitempty"`
		Credential       Secret `yaml:"credential,omitempty"`
		Revoked          bool   `yaml:"revoked,omitempty"`
	} `yaml:"controllers"`
}

// Setup is a loaded config: what New needs apart from the store, and how to serve.
type Setup struct {
	File         FileConfig
	DatabaseDSN  string
	RBAC         *rbac.Config
	Signer       *decision.Signer
	Controllers  []Controller
	BotToken     string
	SigningToken string
	AppToken     string
}

// LoadConfig reads and checks a relay config file and every secret it names.
func LoadConfig(path string) (*Setup, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading relay config: %v", errors.Unwrap(err))
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var fc FileConfig
	if err := dec.Decode(&fc); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if fc.Listen == "" {
		fc.Listen = "127.0.0.1:8090"
	}
	if fc.Mode == "" {
		fc.Mode = "http"
	}
	s := &Setup{File: fc}
	where := func(format string, args ...any) error {
		return fmt.Errorf("%s: "+format, append([]any{path}, args...)...)
	}
	if fc.Mode != "http" && fc.Mode != "socket" {
		return nil, where("mode %q: use http or socket", fc.Mode)
	}
	switch {
	case fc.Database != "" && (fc.DatabaseURL.Env != "" || fc.DatabaseURL.File != ""):
		return nil, where("set database (sqlite:PATH) or databaseURL (postgres), not both")
	case fc.Database != "":
		if !strings.HasPrefix(fc.Database, "sqlite:") {
			return nil, where("database: only sqlite:PATH goes here; give a postgres URL (it holds a password) as databaseURL {env|file}")
		}
		s.DatabaseDSN = fc.Database
	default:
		if s.DatabaseDSN, err = fc.DatabaseURL.Value("databaseURL"); err != nil {
			return nil, where("%v (or set database: sqlite:PATH)", err)
		}
	}
	if fc.RBAC == "" {
		return nil, where("rbac: the platform-owned rbac.yaml with the approval rules is required")
	}
	if s.RBAC, err = rbac.Load(fc.RBAC); err != nil {
		return nil, err
	}
	if fc.DecisionKey == "" {
		return nil, where("decisionKey: a PEM ECDSA P-256 key is required (slack-approval keygen --out FILE makes one)")
	}
	k, err := decision.LoadPrivateKey(fc.DecisionKey)
	if err != nil {
		return nil, where("%v", err)
	}
	if s.Signer, err = decision.NewSigner(k); err != nil {
		return nil, where("%v", err)
	}
	if s.BotToken, err = fc.Slack.BotToken.Value("slack.botToken"); err != nil {
		return nil, where("%v", err)
	}
	if fc.Mode == "http" {
		if s.SigningToken, err = fc.Slack.SigningSecret.Value("slack.signingSecret"); err != nil {
			return nil, where("%v", err)
		}
	} else if s.AppToken, err = fc.Slack.AppToken.Value("slack.appToken"); err != nil {
		return nil, where("%v", err)
	}
	if len(fc.Controllers) == 0 {
		return nil, where("controllers: configure at least one Jenkins controller (name, url, user, apiToken, credentialSHA256); a relay without one does not start")
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConns: 2 * maxInFlight,
		MaxIdleConnsPerHost: maxInFlight, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second, ForceAttemptHTTP2: true}}
	seen := map[string]bool{}
	for i, c := range fc.Controllers {
		w := fmt.Sprintf("controllers[%d] %q", i, c.Name)
		if c.Name == "" || seen[c.Name] {
			return nil, where("%s: every controller needs a unique name", w)
		}
		seen[c.Name] = true
		u, err := ParseJenkinsURL(c.URL)
		if err != nil {
			return nil, where("%s: %v", w, err)
		}
		if c.User == "" {
			return nil, where("%s: user: the relay's Jenkins account (the input's submitter) is required", w)
		}
		tok, err := c.APIToken.Value(w + " apiToken")
		if err != nil {
			return nil, where("%v", err)
		}
		ctl := Controller{Name: c.Name, URL: u, User: c.User, Revoked: c.Revoked,
			Jenkins: &jenkins.Client{User: c.User, Token: tok, HTTP: hc, Breakers: processBreakers()}}
		switch {
		case c.CredentialSHA256 != "":
			h, err := hex.DecodeString(c.CredentialSHA256)
			if err != nil || len(h) != 32 {
				return nil, where("%s: credentialSHA256 must be 64 hex digits (sha256sum of the credential)", w)
			}
			copy(ctl.TokenSHA256[:], h)
		default:
			cred, err := c.Credential.Value(w + " credential")
			if err != nil {
				return nil, where("%v (or set credentialSHA256)", err)
			}
			ctl.TokenSHA256 = sha256.Sum256([]byte(cred))
		}
		s.Controllers = append(s.Controllers, ctl)
	}
	return s, nil
}

// processBreakers is an in-memory breaker set: the relay is one long-lived process, so its breakers need not be
// shared through files as the short-lived helpers' are (a locked file read per call costs more than a click).
func processBreakers() *breaker.Set {
	return breaker.New("", breaker.DefaultThreshold, breaker.DefaultOpenFor)
}

// readyJenkins is a compile-time check that the client can serve /readyz.
var _ interface {
	Ping(context.Context, string) error
} = (*jenkins.Client)(nil)
