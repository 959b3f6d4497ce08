package keys

import (
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// FuzzParseRef checks that any input parses or fails as an input error, never leaks a pin-value, and round-trips.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"cosign.key", "file:///k.key", "pkcs11:token=a;object=b;id=%01?module-path=/m.so&pin-source=/p", "pkcs11:token=a;object=b?pin-value=zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := ParseRef(s)
		if err != nil {
			if result.ClassOf(err) != result.ClassInput {
				t.Fatalf("class %s for %q", result.ClassOf(err), s)
			}
			if i := strings.Index(s, "pin-value="); i >= 0 && strings.HasPrefix(s, "pkcs11:") {
				v := s[i+len("pin-value="):]
				if len(v) > 3 && strings.Contains(err.Error(), v) {
					t.Fatalf("error %q leaks pin-value", err)
				}
			}
			return
		}
		if ref.Scheme == SchemePKCS11 {
			again, err := ParseRef(ref.String())
			if err != nil || again.String() != ref.String() {
				t.Fatalf("%q -> %q does not round-trip: %v", s, ref.String(), err)
			}
		}
	})
}
