package keys

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/vocab"
)

func TestKeyPasswordErrorsNameWhereThePasswordCameFrom(t *testing.T) {
	prefix, _ := writeFileKey(t, "right-Passw0rd")
	wrongFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(wrongFile, []byte("wr0ng-From-File"), 0o600)
	step := vocab.Keys{Names: map[vocab.Option]string{vocab.Env("RG_TEST_PW"): "passwordCredentialsId"},
		Given: map[vocab.Option]any{vocab.Env("RG_TEST_PW"): "cosign-pw"}}
	unbound := vocab.Keys{Names: map[vocab.Option]string{vocab.Env("RG_TEST_NO_PW"): "passwordCredentialsId"}}
	t.Setenv(PasswordEnv, "wr0ng-From-Env")
	t.Setenv("RG_TEST_PW", "wr0ng-From-Cred")
	t.Setenv("RG_TEST_NO_PW", "x")
	os.Unsetenv("RG_TEST_NO_PW")
	cases := []struct {
		name  string
		opts  LoadOptions
		class result.Class
		want  string
	}{
		{"the CLI's env var", LoadOptions{}, result.ClassAuth, "wrong password (check $COSIGN_PASSWORD)"},
		{"the CLI's password file", LoadOptions{PasswordFile: wrongFile}, result.ClassAuth, "wrong password (check --password-file " + wrongFile + ")"},
		{"the step's credential", LoadOptions{PasswordEnv: "RG_TEST_PW", Spell: step}, result.ClassAuth, "wrong password (check passwordCredentialsId: 'cosign-pw')"},
		{"no step credential", LoadOptions{PasswordEnv: "RG_TEST_NO_PW", Spell: unbound}, result.ClassConfig, "no key password: set passwordCredentialsId"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(context.Background(), Ref{Scheme: SchemeFile, Path: prefix + ".key"}, c.opts)
			if result.ClassOf(err) != c.class || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v (%s), want %s containing %q", err, result.ClassOf(err), c.class, c.want)
			}
			for _, s := range []string{"right-Passw0rd", "wr0ng-From-File", "wr0ng-From-Env", "wr0ng-From-Cred"} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("the error shows a password: %v", err)
				}
			}
		})
	}
}
