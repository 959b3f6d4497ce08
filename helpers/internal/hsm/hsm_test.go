package hsm

import (
	"os"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/hsm/softhsmtest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

var token softhsmtest.Token

func TestMain(m *testing.M) { os.Exit(softhsmtest.Main(m, &token)) }

func TestOpenClassifiesConfigurationErrors(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		class result.Class
		want  string
	}{
		{"no module path", Config{Token: "t"}, result.ClassConfig, "no PKCS#11 module"},
		{"a module that does not exist", Config{ModulePath: "/nope/p11.so", Token: "t"}, result.ClassConfig, "/nope/p11.so not found"},
		{"a file that is not a PKCS#11 module", Config{ModulePath: "/etc/hostname", Token: "t"}, result.ClassConfig, "could not be loaded"},
		{"no token", Config{ModulePath: softhsmtest.Module}, result.ClassConfig, "no PKCS#11 token"},
		{"an unknown token", Config{ModulePath: softhsmtest.Module, Token: "nope", PIN: token.PIN}, result.ClassKey, `"nope" not found`},
		{"a wrong PIN", Config{ModulePath: softhsmtest.Module, Token: token.Label, PIN: "0000-wrong"}, result.ClassAuth, "wrong PIN"},
		{"a wrong PIN names the env var by default", Config{ModulePath: softhsmtest.Module, Token: token.Label, PIN: "0000-wrong"}, result.ClassAuth, "wrong PIN (CKR_PIN_INCORRECT) from $PKCS11_PIN"},
		{"a wrong PIN names where it came from", Config{ModulePath: softhsmtest.Module, Token: token.Label, PIN: "0000-wrong", PINFrom: "pinCredentialsId: 'hsm-pin'"}, result.ClassAuth, "wrong PIN (CKR_PIN_INCORRECT) from pinCredentialsId: 'hsm-pin'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := Open(tc.cfg)
			if err == nil {
				tok.Close()
			}
			if result.ClassOf(err) != tc.class || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "0000-wrong") {
				t.Fatalf("err = %v (%s), want %s containing %q", err, result.ClassOf(err), tc.class, tc.want)
			}
		})
	}
}

func TestFindSignerReportsAMissingKeyInsteadOfReturningNil(t *testing.T) {
	tok, err := Open(Config{ModulePath: token.Module, Token: token.Label, PIN: token.PIN})
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	if _, err := tok.FindSigner(nil, []byte("absent")); result.ClassOf(err) != result.ClassKey {
		t.Fatalf("err = %v, want a key error", err)
	}
	if _, err := tok.FindSigner(nil, nil); result.ClassOf(err) != result.ClassInput {
		t.Fatalf("err = %v, want an input error", err)
	}
	if _, err := tok.GenerateECDSA([]byte{1}, nil); result.ClassOf(err) != result.ClassInput {
		t.Fatalf("generate without a label: err = %v, want an input error", err)
	}
	s, err := tok.GenerateECDSA([]byte{7}, []byte("k7"))
	if err != nil || s == nil {
		t.Fatalf("generate: %v", err)
	}
	if got, err := tok.FindSigner([]byte{7}, nil); err != nil || got == nil {
		t.Fatalf("find by id: %v", err)
	}
}
