package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nx509 "github.com/notaryproject/notation-core-go/x509"

	"github.com/release-gates/release-gates/helpers/internal/hsm/softhsmtest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

var token softhsmtest.Token

func TestMain(m *testing.M) { os.Exit(softhsmtest.Main(m, &token)) }

func TestParseRefAcceptsFilePathsAndPKCS11URIs(t *testing.T) {
	cases := []struct {
		in   string
		want Ref
	}{
		{"cosign.key", Ref{Scheme: SchemeFile, Path: "cosign.key"}},
		{"file:///etc/k.key", Ref{Scheme: SchemeFile, Path: "/etc/k.key"}},
		{"pkcs11:token=rel;object=sig%20key;id=%01%02?module-path=/usr/lib/m.so",
			Ref{Scheme: SchemePKCS11, Token: "rel", Label: "sig key", ID: []byte{1, 2}, ModulePath: "/usr/lib/m.so"}},
		{"pkcs11:token=rel;id=%01;type=private?module-path=/m.so&pin-source=file:/run/pin",
			Ref{Scheme: SchemePKCS11, Token: "rel", ID: []byte{1}, ModulePath: "/m.so", PINSource: "/run/pin"}},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRef(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want.String() || string(got.ID) != string(tc.want.ID) || got.Label != tc.want.Label {
				t.Fatalf("ParseRef(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			again, err := ParseRef(got.String())
			if err != nil || again.String() != got.String() {
				t.Fatalf("String() does not round-trip: %q -> %v %v", got.String(), again, err)
			}
		})
	}
}

func TestParseRefRefusesBadReferencesWithAnInputError(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"empty", "", "empty key reference"},
		{"pin-value in query", "pkcs11:token=t;object=k?module-path=/m.so&pin-value=s3cret", "pin-value in a key URI is refused: bind the PIN with withCredentials as PKCS11_PIN or --pin-file"},
		{"pin-value in path", "pkcs11:token=t;object=k;pin-value=s3cret?module-path=/m.so", "pin-value in a key URI is refused"},
		{"no token", "pkcs11:object=k?module-path=/m.so", "no token="},
		{"no key", "pkcs11:token=t?module-path=/m.so", "neither object= nor id="},
		{"no module", "pkcs11:token=t;object=k", "no module-path="},
		{"unknown attribute", "pkcs11:token=t;label=k?module-path=/m.so", `"label" is not supported`},
		{"duplicate", "pkcs11:token=t;token=u;object=k?module-path=/m.so", "given twice"},
		{"bad escape", "pkcs11:token=t;object=%zz?module-path=/m.so", "bad %-escape"},
		{"other scheme", "awskms://alias/x", `"awskms" is not supported`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRef(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if result.ClassOf(err) != result.ClassInput {
				t.Fatalf("class = %s, want input", result.ClassOf(err))
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error leaks the PIN: %v", err)
			}
		})
	}
}

func writeFileKey(t *testing.T, password string) (string, *Key) {
	t.Helper()
	prefix := filepath.Join(t.TempDir(), "cosign")
	k, err := GenerateFile(prefix, []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	return prefix, k
}

func TestLoadDecryptsAGeneratedFileKeyAndClassifiesFailures(t *testing.T) {
	prefix, gen := writeFileKey(t, "pw-1")
	corrupt := filepath.Join(t.TempDir(), "corrupt.key")
	raw, _ := os.ReadFile(prefix + ".key")
	os.WriteFile(corrupt, []byte(strings.Replace(string(raw), "A", "B", 40)), 0o600)
	notPEM := filepath.Join(t.TempDir(), "garbage.key")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("pw-1\n"), 0o600)

	cases := []struct {
		name, path, env, pwFile string
		class                   result.Class
	}{
		{"right password from env", prefix + ".key", "pw-1", "", ""},
		{"right password from file with newline", prefix + ".key", "wrong", pwFile, ""},
		{"wrong password", prefix + ".key", "pw-2", "", result.ClassAuth},
		{"corrupt key file", corrupt, "pw-1", "", result.ClassInput},
		{"not PEM", notPEM, "pw-1", "", result.ClassInput},
		{"missing file", prefix + ".nope", "pw-1", "", result.ClassInput},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(PasswordEnv, tc.env)
			k, err := Load(context.Background(), Ref{Scheme: SchemeFile, Path: tc.path}, LoadOptions{PasswordFile: tc.pwFile})
			if got := result.ClassOf(err); got != tc.class {
				t.Fatalf("class = %q, want %q (err %v)", got, tc.class, err)
			}
			if err != nil {
				if strings.Contains(err.Error(), tc.env) {
					t.Fatalf("error leaks the password: %v", err)
				}
				return
			}
			defer k.Close()
			if k.ID != gen.ID {
				t.Fatalf("key id %s, want %s", k.ID, gen.ID)
			}
		})
	}
}

func TestLoadWithoutAnyPasswordIsAConfigError(t *testing.T) {
	prefix, _ := writeFileKey(t, "")
	os.Unsetenv(PasswordEnv)
	_, err := Load(context.Background(), Ref{Scheme: SchemeFile, Path: prefix + ".key"}, LoadOptions{})
	if result.ClassOf(err) != result.ClassConfig || !strings.Contains(err.Error(), PasswordEnv) {
		t.Fatalf("err = %v (%s), want config error naming %s", err, result.ClassOf(err), PasswordEnv)
	}
}

func TestGenerateFileRefusesToOverwriteAKey(t *testing.T) {
	prefix, _ := writeFileKey(t, "x")
	if _, err := GenerateFile(prefix, []byte("x")); result.ClassOf(err) != result.ClassInput {
		t.Fatalf("err = %v, want input error", err)
	}
}

func TestPKCS11KeysAreGeneratedLoadedAndTheirFailuresClassified(t *testing.T) {
	t.Setenv(PINEnv, token.PIN)
	ctx := context.Background()
	uri := token.URI("signer-1", []byte{0x01})
	ref, err := ParseRef(uri)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := GeneratePKCS11(ctx, ref, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gen.Close()
	t.Run("a duplicate label or id is refused", func(t *testing.T) {
		for _, u := range []string{token.URI("signer-1", []byte{0x09}), token.URI("other", []byte{0x01})} {
			r, _ := ParseRef(u)
			if _, err := GeneratePKCS11(ctx, r, LoadOptions{}); result.ClassOf(err) != result.ClassInput || !strings.Contains(err.Error(), "already holds") {
				t.Fatalf("%s: err = %v, want input error", u, err)
			}
		}
	})
	t.Run("the key is found by label or id and signs", func(t *testing.T) {
		for _, u := range []string{token.URI("signer-1", nil), token.URI("", []byte{0x01})} {
			r, _ := ParseRef(u)
			k, err := Load(ctx, r, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if k.ID != gen.ID {
				t.Fatalf("id %s, want %s", k.ID, gen.ID)
			}
			d := sha256.Sum256([]byte("hello"))
			sig, err := k.Signer.Sign(rand.Reader, d[:], crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), d[:], sig) {
				t.Fatal("HSM signature does not verify")
			}
			k.Close()
		}
	})
	pinFile := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(pinFile, []byte("9999-wrong\n"), 0o600)
	cases := []struct {
		name, uri, pinFile string
		class              result.Class
		want               string
	}{
		{"missing module", "pkcs11:token=rg-test;object=signer-1?module-path=/nonexistent/libp11.so", "", result.ClassConfig, "/nonexistent/libp11.so"},
		{"missing token", "pkcs11:token=no-such-token;object=signer-1?module-path=" + token.Module, "", result.ClassKey, `"no-such-token"`},
		{"missing key", token.URI("no-such-key", nil), "", result.ClassKey, "no key pair object=no-such-key"},
		{"wrong PIN", token.URI("signer-1", nil), pinFile, result.ClassAuth, "CKR_PIN_INCORRECT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRef(tc.uri)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Load(ctx, r, LoadOptions{PINFile: tc.pinFile})
			if result.ClassOf(err) != tc.class || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v (%s), want %s containing %q", err, result.ClassOf(err), tc.class, tc.want)
			}
			if strings.Contains(err.Error(), token.PIN) || strings.Contains(err.Error(), "9999-wrong") {
				t.Fatalf("error leaks the PIN: %v", err)
			}
		})
	}
}

func TestIssuedCodeSigningChainPassesNotationValidation(t *testing.T) {
	ca, err := NewCA("CN=release-gates test,O=example", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, k := writeFileKey(t, "pw")
	leaf, err := ca.IssueCodeSigning(k.Public(), "CN=release signer,O=example", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := nx509.ValidateCodeSigningCertChain([]*x509.Certificate{leaf, ca.Cert}, nil); err != nil {
		t.Fatalf("notation rejects the chain: %v", err)
	}
	chainFile := filepath.Join(t.TempDir(), "chain.pem")
	os.WriteFile(chainFile, EncodeCerts(leaf, ca.Cert), 0o644)
	t.Setenv(PasswordEnv, "pw")
	loaded, err := Load(context.Background(), k.Ref, LoadOptions{CertChainFile: chainFile})
	if err != nil || len(loaded.CertChain) != 2 {
		t.Fatalf("loading with chain: %v", err)
	}
	other, _ := NewCA("CN=other", time.Hour)
	os.WriteFile(chainFile, EncodeCerts(other.Cert), 0o644)
	if _, err := Load(context.Background(), k.Ref, LoadOptions{CertChainFile: chainFile}); result.ClassOf(err) != result.ClassKey {
		t.Fatalf("a chain for another key: err = %v, want key error", err)
	}
}

func TestRawECDSAGivesFixedSizeRS(t *testing.T) {
	_, k := writeFileKey(t, "")
	d := sha256.Sum256([]byte("payload"))
	for i := 0; i < 20; i++ {
		der, err := k.Signer.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := RawECDSA(der, 256)
		if err != nil || len(raw) != 64 {
			t.Fatalf("raw = %d bytes, err %v", len(raw), err)
		}
		r, s := new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])
		if !ecdsa.Verify(k.Public().(*ecdsa.PublicKey), d[:], r, s) {
			t.Fatal("r||s does not verify")
		}
	}
	if _, err := RawECDSA([]byte{0x30, 0x01}, 256); err == nil {
		t.Fatal("garbage DER accepted")
	}
}
