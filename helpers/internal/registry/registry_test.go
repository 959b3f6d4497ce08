package registry_test

import (
	"context"
	"encoding/base64"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/registry/registrytest"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/testing/downaddr"
)

func TestParseAcceptsTagsDigestsAndBoth(t *testing.T) {
	c := registry.New(registry.Options{PlainHTTP: true})
	dg := "sha256:" + strings.Repeat("ab", 32)
	cases := []struct {
		in, tag, digest string
		wantErr         bool
	}{
		{"127.0.0.1:5000/app:v1", "v1", "", false},
		{"127.0.0.1:5000/app@" + dg, "", dg, false},
		{"127.0.0.1:5000/app:v1@" + dg, "v1", dg, false},
		{"127.0.0.1:5000/team/app:v2", "v2", "", false},
		{"127.0.0.1:5000/app", "", "", true},
		{"127.0.0.1:5000/app@sha256:abc", "", "", true},
		{"127.0.0.1:5000/APP:v1", "", "", true},
		{"", "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			ref, err := c.Parse(tc.in)
			if tc.wantErr {
				if result.ClassOf(err) != result.ClassInput {
					t.Fatalf("want an input error, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if ref.Digest != (v1.Hash{}) {
				got = ref.Digest.String()
			}
			if ref.Tag != tc.tag || got != tc.digest {
				t.Fatalf("got tag %q digest %q", ref.Tag, got)
			}
		})
	}
}

// isolateState points the breaker state of default clients at a temp dir: an open breaker must never leak from one
// test into the next, or into ~/.cache on the machine running them.
func isolateState(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(breaker.DirEnv, dir)
	return dir
}

func TestResolveFindsTheDigestAndRefusesMovedTagsUnknownImagesAndPlainHTTPWithoutTheFlag(t *testing.T) {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	c := registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
	d := registrytest.PushRandom(t, c, host+"/app:v1").DigestStr()
	other := "sha256:" + strings.Repeat("0", 64)
	cases := []struct {
		name   string
		client *registry.Client
		ref    string
		expect string
		class  result.Class
	}{
		{"a tag resolves to its digest", c, host + "/app:v1", "", ""},
		{"a digest resolves to itself", c, host + "/app@" + d, "", ""},
		{"tag and matching digest pass", c, host + "/app:v1@" + d, "", ""},
		{"tag with another digest is tamper", c, host + "/app:v1@" + other, "", result.ClassTamper},
		{"expected digest mismatch is tamper", c, host + "/app:v1", other, result.ClassTamper},
		{"unknown tag is input", c, host + "/app:nope", "", result.ClassInput},
		{"unknown repository is input", c, host + "/nope:v1", "", result.ClassInput},
		{"plain HTTP without the flag is config", registry.New(registry.Options{}), host + "/app:v1", "", result.ClassConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := tc.client.Parse(tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			var expect v1.Hash
			if tc.expect != "" {
				expect, _ = v1.NewHash(tc.expect)
			}
			tg, err := tc.client.Resolve(context.Background(), ref, expect)
			if got := result.ClassOf(err); got != tc.class {
				t.Fatalf("class = %q, want %q (err %v)", got, tc.class, err)
			}
			if err != nil {
				if strings.Contains(err.Error(), "\n") {
					t.Fatalf("error is not one line: %q", err)
				}
				return
			}
			if tg.Digest.DigestStr() != d || tg.Given != tc.ref {
				t.Fatalf("resolved to %s (given %s), want %s", tg.Digest, tg.Given, d)
			}
		})
	}
}

func TestResolveGivesUpAsUnavailableWhenTheRegistryIsDown(t *testing.T) {
	isolateState(t)
	host := downaddr.New(t) // refuses connections; a closed listener's port could be taken meanwhile
	// A breaker that never trips, so the bounded operation-level tries are what gives up.
	lenient := breaker.New("", 1000, time.Minute)
	c := registry.New(registry.Options{PlainHTTP: true, Attempts: 2, Backoff: time.Millisecond, Breakers: lenient})
	ref, _ := c.Parse(host + "/app:v1")
	_, err := c.Resolve(context.Background(), ref, v1.Hash{})
	if result.ClassOf(err) != result.ClassUnavailable || !strings.Contains(err.Error(), "after 2 tries") {
		t.Fatalf("want unavailable after 2 tries, got %v", err)
	}
}

func TestCredentialsComeFromTheEnvironmentOrTheDockerConfig(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{Username: "ci", Password: "s3cret-pw"})
	good := registry.New(registry.Options{PlainHTTP: true, Username: "ci", Password: "s3cret-pw"})
	d := registrytest.PushRandom(t, good, reg.Host+"/app:v1").DigestStr()

	cfgDir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("ci:s3cret-pw"))
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(`{"auths":{"`+reg.Host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		opts  registry.Options
		class result.Class
	}{
		{"env credentials work", registry.Options{Username: "ci", Password: "s3cret-pw"}, ""},
		{"docker config credentials work", registry.Options{ConfigDir: cfgDir}, ""},
		{"a wrong password is an auth failure", registry.Options{Username: "ci", Password: "wrong"}, result.ClassAuth},
		{"no credentials is an auth failure", registry.Options{ConfigDir: t.TempDir()}, result.ClassAuth},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.PlainHTTP = true
			c := registry.New(tc.opts)
			ref, _ := c.Parse(reg.Host + "/app:v1")
			tg, err := c.Resolve(context.Background(), ref, v1.Hash{})
			if got := result.ClassOf(err); got != tc.class {
				t.Fatalf("class = %q, want %q (err %v)", got, tc.class, err)
			}
			if err != nil {
				if strings.Contains(err.Error(), "s3cret-pw") || strings.Contains(err.Error(), "wrong") {
					t.Fatalf("error leaks the password: %v", err)
				}
				return
			}
			if tg.Digest.DigestStr() != d {
				t.Fatalf("digest %s, want %s", tg.Digest, d)
			}
			repo, err := c.Repository(ref.Repo)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := repo.Resolve(context.Background(), "v1"); err != nil {
				t.Fatalf("oras with the same credentials: %v", err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"127.0.0.1:5000/app:v1", "r.example/a/b@sha256:" + strings.Repeat("ab", 32), "r/a:t@sha256:" + strings.Repeat("0", 64), "", "@", ":@sha256:", "a@b@c"} {
		f.Add(s)
	}
	c := registry.New(registry.Options{PlainHTTP: true})
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := c.Parse(s)
		if err != nil {
			if result.ClassOf(err) != result.ClassInput {
				t.Fatalf("Parse(%q) error of class %q", s, result.ClassOf(err))
			}
			return
		}
		if ref.Tag == "" && ref.Digest == (v1.Hash{}) {
			t.Fatalf("Parse(%q) gave neither tag nor digest", s)
		}
		if ref.Repo.Name() == "" {
			t.Fatalf("Parse(%q) gave no repository", s)
		}
	})
}
