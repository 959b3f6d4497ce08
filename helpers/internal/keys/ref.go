package keys

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Scheme is the kind of key a Ref points at.
type Scheme string

// Supported key reference schemes.
const (
	SchemeFile   Scheme = "file"   // cosign-format encrypted private key file
	SchemePKCS11 Scheme = "pkcs11" // RFC 7512 PKCS#11 URI
)

// Ref is a parsed key reference; it never holds a secret.
type Ref struct {
	Scheme Scheme
	Path   string // SchemeFile: the key file

	Token      string // SchemePKCS11: token label (token=)
	Serial     string // token serial (serial=), when no label is given
	Label      string // key label (object=)
	ID         []byte // key id (id=), raw bytes
	ModulePath string // module-path= query attribute
	PINSource  string // pin-source= query attribute: a file holding the PIN
}

// pinValueRefused is the exact refusal for PINs embedded in URIs; it never echoes the URI.
const pinValueRefused = "pin-value in a key URI is refused: bind the PIN with withCredentials as PKCS11_PIN or --pin-file"

// ParseRef parses "file://path", a bare path, or an RFC 7512 "pkcs11:" URI.
func ParseRef(s string) (Ref, error) {
	switch {
	case strings.TrimSpace(s) == "":
		return Ref{}, result.Errorf(result.ClassInput, "empty key reference: pass --key file://path/to/cosign.key or a pkcs11: URI")
	case strings.HasPrefix(s, "pkcs11:"):
		return parsePKCS11(strings.TrimPrefix(s, "pkcs11:"))
	case strings.HasPrefix(s, "file://"):
		p := strings.TrimPrefix(s, "file://")
		if p == "" {
			return Ref{}, result.Errorf(result.ClassInput, "key reference file:// has no path")
		}
		return Ref{Scheme: SchemeFile, Path: p}, nil
	case strings.Contains(s, "://"):
		scheme := s[:strings.Index(s, "://")]
		return Ref{}, result.Errorf(result.ClassInput, "key reference scheme %q is not supported: use file:// or pkcs11:", redactScheme(scheme))
	}
	if strings.ContainsRune(s, 0) {
		return Ref{}, result.Errorf(result.ClassInput, "key path contains a NUL byte")
	}
	return Ref{Scheme: SchemeFile, Path: s}, nil
}

func redactScheme(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

// pathAttrsIgnored are RFC 7512 path attributes accepted but not used to select the key.
var pathAttrsIgnored = map[string]bool{"type": true, "manufacturer": true, "model": true, "library-manufacturer": true, "library-description": true, "library-version": true, "slot-description": true, "slot-manufacturer": true, "slot-id": true}

func parsePKCS11(body string) (Ref, error) {
	path, query, _ := strings.Cut(body, "?")
	ref := Ref{Scheme: SchemePKCS11}
	// Check for pin-value before anything else so no error ever echoes it.
	for _, kv := range strings.Split(query, "&") {
		if k, _, _ := strings.Cut(kv, "="); strings.EqualFold(strings.TrimSpace(k), "pin-value") {
			return Ref{}, result.Errorf(result.ClassInput, pinValueRefused)
		}
	}
	for _, kv := range strings.Split(path, ";") {
		if strings.HasPrefix(kv, "pin-value=") {
			return Ref{}, result.Errorf(result.ClassInput, pinValueRefused)
		}
	}
	seen := map[string]bool{}
	attr := func(kv, sep string) (string, string, error) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return "", "", result.Errorf(result.ClassInput, "pkcs11 URI attribute %q is not name=value", short(kv))
		}
		if seen[sep+k] {
			return "", "", result.Errorf(result.ClassInput, "pkcs11 URI attribute %q given twice", short(k))
		}
		seen[sep+k] = true
		dv, err := url.PathUnescape(v)
		if err != nil {
			return "", "", result.Errorf(result.ClassInput, "pkcs11 URI attribute %q has a bad %%-escape", short(k))
		}
		return k, dv, nil
	}
	if path != "" {
		for _, kv := range strings.Split(path, ";") {
			k, v, err := attr(kv, ";")
			if err != nil {
				return Ref{}, err
			}
			switch k {
			case "token":
				ref.Token = v
			case "serial":
				ref.Serial = v
			case "object":
				ref.Label = v
			case "id":
				ref.ID = []byte(v)
			default:
				if !pathAttrsIgnored[k] {
					return Ref{}, result.Errorf(result.ClassInput, "pkcs11 URI attribute %q is not supported: use token=, object=, id= and ?module-path=", short(k))
				}
			}
		}
	}
	if query != "" {
		for _, kv := range strings.Split(query, "&") {
			k, v, err := attr(kv, "?")
			if err != nil {
				return Ref{}, err
			}
			switch k {
			case "module-path":
				ref.ModulePath = v
			case "pin-source":
				ref.PINSource = strings.TrimPrefix(v, "file:")
			case "module-name":
				return Ref{}, result.Errorf(result.ClassInput, "pkcs11 URI module-name is not supported: give the full module-path=")
			default:
				return Ref{}, result.Errorf(result.ClassInput, "pkcs11 URI query attribute %q is not supported: use module-path= and pin-source=", short(k))
			}
		}
	}
	if ref.Token == "" && ref.Serial == "" {
		return Ref{}, result.Errorf(result.ClassInput, "pkcs11 URI has no token=: name the token by its label")
	}
	if ref.Label == "" && len(ref.ID) == 0 {
		return Ref{}, result.Errorf(result.ClassInput, "pkcs11 URI has neither object= nor id=: name the key")
	}
	if ref.ModulePath == "" {
		return Ref{}, result.Errorf(result.ClassInput, "pkcs11 URI has no module-path=: add ?module-path=/path/to/pkcs11-module.so")
	}
	return ref, nil
}

func short(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// String renders the reference in canonical form; it holds no secret.
func (r Ref) String() string {
	if r.Scheme != SchemePKCS11 {
		return "file://" + r.Path
	}
	var b strings.Builder
	b.WriteString("pkcs11:")
	var parts []string
	if r.Token != "" {
		parts = append(parts, "token="+escape(r.Token))
	}
	if r.Serial != "" {
		parts = append(parts, "serial="+escape(r.Serial))
	}
	if r.Label != "" {
		parts = append(parts, "object="+escape(r.Label))
	}
	if len(r.ID) > 0 {
		var id bytes.Buffer
		for _, c := range r.ID {
			fmt.Fprintf(&id, "%%%02X", c)
		}
		parts = append(parts, "id="+id.String())
	}
	b.WriteString(strings.Join(parts, ";"))
	var q []string
	if r.ModulePath != "" {
		q = append(q, "module-path="+escape(r.ModulePath))
	}
	if r.PINSource != "" {
		q = append(q, "pin-source="+escape(r.PINSource))
	}
	if len(q) > 0 {
		b.WriteString("?" + strings.Join(q, "&"))
	}
	return b.String()
}

// escape %-encodes everything outside RFC 7512's unreserved set plus '/' (for paths).
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~/:", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
