package keyring

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Version is the only keys.yaml schema version this package reads and writes.
const Version = 1

// State is a key's place in its lifecycle.
type State string

// Key states: only active keys sign; active and deprecated keys verify.
const (
	Active     State = "active"     // signs (when current) and verifies
	Deprecated State = "deprecated" // verifies only: signatures made before a rotation stay valid
	Archived   State = "archived"   // retired: neither signs nor verifies
	Revoked    State = "revoked"    // compromised or withdrawn: signatures by it are rejected
)

func (s State) valid() bool { return s == Active || s == Deprecated || s == Archived || s == Revoked }

// Verifies reports whether signatures by a key in this state are accepted.
func (s State) Verifies() bool { return s == Active || s == Deprecated }

// Duration is a YAML duration: Go syntax ("2160h") or whole days ("90d").
type Duration time.Duration

// ParseDuration reads "90d" or a Go duration such as "36h".
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("duration %q: use whole days like 90d or a Go duration like 36h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("duration %q: use whole days like 90d or a Go duration like 36h", s)
	}
	return d, nil
}

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes whole days as "Nd", anything else in Go syntax.
func (d Duration) MarshalYAML() (any, error) {
	v := time.Duration(d)
	if v%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", v/(24*time.Hour)), nil
	}
	return v.String(), nil
}

// Rotation is a key's rotation policy.
type Rotation struct {
	MaxAge        Duration `yaml:"maxAge"`                  // rotate once the key is this old (from notBefore)
	MaxSignatures int64    `yaml:"maxSignatures,omitempty"` // optional: rotate after this many signatures
}

// Key is one entry of keys.yaml; paths are relative to the file.
type Key struct {
	ID        string `yaml:"id"`
	Backend   string `yaml:"backend"`             // a cosign key file path or a pkcs11: URI
	PublicKey string `yaml:"publicKey"`           // PEM public key (cosign .pub)
	CertChain string `yaml:"certChain,omitempty"` // PEM chain, leaf first, for notation
	// CertFingerprints are "sha256:<hex>" of every leaf certificate issued for the key, so a notation signature can
	// be traced to its key (and its revocation) by certificate even after certChain is replaced.
	CertFingerprints []string   `yaml:"certFingerprints,omitempty"`
	State            State      `yaml:"state"`
	NotBefore        time.Time  `yaml:"notBefore"`
	NotAfter         time.Time  `yaml:"notAfter"`
	Rotation         Rotation   `yaml:"rotation"`
	Signed           int64      `yaml:"signatures,omitempty"` // signatures made so far, when counted
	RevokedAt        *time.Time `yaml:"revokedAt,omitempty"`
	Reason           string     `yaml:"reason,omitempty"` // why the key was revoked or archived
}

// Environment says which key signs for one deployment environment.
type Environment struct {
	Current               string `yaml:"current,omitempty"`     // id of the current signing key
	AllowSoftwareFallback bool   `yaml:"allowSoftwareFallback"` // may a software key sign when the HSM is unhealthy
	Fallback              string `yaml:"fallback,omitempty"`    // id of the software (file) key used then
}

// Trust names where the trust bundle (cosign public keys, notation trust store and policy) is written.
type Trust struct {
	Dir       string `yaml:"dir,omitempty"`       // default "trust", relative to keys.yaml
	StoreName string `yaml:"storeName,omitempty"` // notation trust store name, default "release-gates"
}

// File is the parsed keys.yaml.
type File struct {
	Version      int                     `yaml:"version"`
	Trust        Trust                   `yaml:"trust,omitempty"`
	Environments map[string]*Environment `yaml:"environments"`
	Keys         []*Key                  `yaml:"keys"`

	path string
}

// Path is the file keys.yaml was read from.
func (f *File) Path() string { return f.path }

// Abs resolves a path written in keys.yaml against the file's directory.
func (f *File) Abs(p string) string {
	if p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, "pkcs11:") {
		return p
	}
	return filepath.Join(filepath.Dir(f.path), strings.TrimPrefix(p, "file://"))
}

// Key returns the key with id; an unknown id is a ClassConfig error.
func (f *File) Key(id string) (*Key, error) {
	for _, k := range f.Keys {
		if k.ID == id {
			return k, nil
		}
	}
	return nil, result.Errorf(result.ClassConfig, "%s: unknown key id %q: known ids are %s", f.path, id, strings.Join(f.ids(), ", "))
}

func (f *File) ids() []string {
	var out []string
	for _, k := range f.Keys {
		out = append(out, k.ID)
	}
	if len(out) == 0 {
		return []string{"(none)"}
	}
	return out
}

// EnvironmentNames returns the environment names, sorted.
func (f *File) EnvironmentNames() []string {
	var out []string
	for n := range f.Environments {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// CurrentFor returns the environments whose current key is id, sorted.
func (f *File) CurrentFor(id string) []string {
	var out []string
	for _, n := range f.EnvironmentNames() {
		if f.Environments[n].Current == id {
			out = append(out, n)
		}
	}
	return out
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Load reads and validates keys.yaml; every problem is a one-line ClassConfig error naming the file.
func Load(path string) (*File, error) {
	if path == "" {
		return nil, result.Errorf(result.ClassInput, "no keyring: pass --keyring keys.yaml")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, result.Errorf(result.ClassInput, "keyring %s not found: pass the path of keys.yaml", path)
		}
		return nil, result.Errorf(result.ClassInput, "reading keyring %s: %v", path, err)
	}
	return Parse(path, b)
}

// Parse validates keys.yaml content; path labels errors and anchors relative paths.
func Parse(path string, b []byte) (*File, error) {
	bad := func(format string, args ...any) error {
		return result.Errorf(result.ClassConfig, "%s: %s", path, fmt.Sprintf(format, args...))
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, bad("malformed YAML: %v", oneLine(err))
	}
	if err := checkEnvironmentNodes(&root); err != nil {
		return nil, bad("%v", err)
	}
	f := &File{path: path}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil {
		return nil, bad("malformed keys.yaml: %v", oneLine(err))
	}
	if f.Version != Version {
		return nil, bad("version %d is not supported: this helper reads version: %d", f.Version, Version)
	}
	seen := map[string]bool{}
	for i, k := range f.Keys {
		switch {
		case k == nil:
			return nil, bad("keys[%d] is empty", i)
		case !idPattern.MatchString(k.ID):
			return nil, bad("keys[%d]: id %q must be 1-64 letters, digits, '.', '_' or '-'", i, k.ID)
		case seen[k.ID]:
			return nil, bad("key id %q appears twice: ids must be unique", k.ID)
		case k.Backend == "":
			return nil, bad("key %s has no backend: give a key file path or a pkcs11: URI", k.ID)
		case k.PublicKey == "":
			return nil, bad("key %s has no publicKey: give the path of its PEM public key", k.ID)
		case !k.State.valid():
			return nil, bad("key %s has state %q: use active, deprecated, archived or revoked", k.ID, k.State)
		case k.NotBefore.IsZero() || k.NotAfter.IsZero():
			return nil, bad("key %s needs notBefore and notAfter (RFC 3339 times)", k.ID)
		case !k.NotAfter.After(k.NotBefore):
			return nil, bad("key %s: notAfter %s is not after notBefore %s", k.ID, k.NotAfter.Format(time.RFC3339), k.NotBefore.Format(time.RFC3339))
		case k.Rotation.MaxAge <= 0:
			return nil, bad("key %s needs rotation.maxAge (e.g. 90d)", k.ID)
		case k.Rotation.MaxSignatures < 0:
			return nil, bad("key %s: rotation.maxSignatures must not be negative", k.ID)
		}
		if _, err := keys.ParseRef(k.Backend); err != nil {
			return nil, bad("key %s backend: %v", k.ID, err)
		}
		seen[k.ID] = true
	}
	for _, name := range f.EnvironmentNames() {
		env := f.Environments[name]
		if env == nil {
			env = &Environment{}
			f.Environments[name] = env
		}
		if env.Current != "" {
			k, err := f.Key(env.Current)
			if err != nil {
				return nil, bad("environment %s: current key %q is not in keys: add it or fix the id", name, env.Current)
			}
			if k.State != Active {
				return nil, bad("environment %s: current key %s is %s: only an active key can be current; run keys rotate", name, k.ID, k.State)
			}
		}
		if env.Fallback != "" {
			k, err := f.Key(env.Fallback)
			if err != nil {
				return nil, bad("environment %s: fallback key %q is not in keys: add it or fix the id", name, env.Fallback)
			}
			if ref, _ := keys.ParseRef(k.Backend); ref.Scheme != keys.SchemeFile {
				return nil, bad("environment %s: fallback key %s must be a software (file) key, not %s", name, k.ID, ref.Scheme)
			}
			if k.State != Active {
				return nil, bad("environment %s: fallback key %s is %s: a fallback must be active", name, k.ID, k.State)
			}
		}
	}
	return f, nil
}

// checkEnvironmentNodes finds an environment listed twice, which would give it two current keys.
func checkEnvironmentNodes(root *yaml.Node) error {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return fmt.Errorf("empty document: start with 'version: 1'")
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: the top level must be a mapping with version, environments and keys", doc.Line)
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value != "environments" || doc.Content[i+1].Kind != yaml.MappingNode {
			continue
		}
		envs := doc.Content[i+1].Content
		first := map[string]*yaml.Node{}
		for j := 0; j+1 < len(envs); j += 2 {
			name := envs[j].Value
			if prev, ok := first[name]; ok {
				return fmt.Errorf("environment %s is listed twice (lines %d and %d), giving it two current keys: keep one entry", name, prev.Line, envs[j].Line)
			}
			first[name] = envs[j]
			if cur := envs[j+1]; cur.Kind == yaml.MappingNode {
				for k := 0; k+1 < len(cur.Content); k += 2 {
					if cur.Content[k].Value == "current" && cur.Content[k+1].Kind == yaml.SequenceNode {
						return fmt.Errorf("environment %s has %d current keys (line %d): exactly one key is current per environment", name, len(cur.Content[k+1].Content), cur.Content[k].Line)
					}
				}
			}
		}
	}
	return nil
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

// Save writes the keyring back atomically (comments are not preserved).
func (f *File) Save() error {
	var buf bytes.Buffer
	buf.WriteString("# keys.yaml: release-gates key registry; rewritten by sign-artifacts keys rotate/revoke.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return result.Errorf(result.ClassInternal, "encoding keyring: %v", err)
	}
	if _, err := Parse(f.path, buf.Bytes()); err != nil { // never write a file we would refuse to read
		return result.Errorf(result.ClassInternal, "refusing to write an invalid keyring: %v", err)
	}
	if err := atomicfile.WriteFile(f.path, buf.Bytes(), 0o644); err != nil {
		return result.Errorf(result.ClassInput, "writing keyring %s: %v", f.path, err)
	}
	return nil
}
