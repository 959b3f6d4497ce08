package decision

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestASignedRecordVerifiesAndAnyChangeBreaksIt(t *testing.T) {
	dir := t.TempDir()
	s, err := GenerateKey(filepath.Join(dir, "k.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "k.pub"), s.PublicPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey(filepath.Join(dir, "k.pub"))
	if err != nil {
		t.Fatal(err)
	}
	rec := Record{RequestID: "r1", TraceID: "t1", Service: "orders", Environment: "prod", Decision: "approved",
		Approvers: []Approver{{SlackID: "U02BOB", Name: "bob", EventID: "1.2-U02BOB", At: time.Unix(1, 0).UTC()}}}
	env, err := s.Sign(rec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(env, pub)
	if err != nil || got.RequestID != "r1" || got.Approvers[0].Name != "bob" {
		t.Fatalf("verify %+v %v", got, err)
	}
	var e Envelope
	_ = json.Unmarshal(env, &e)
	body, _ := base64.StdEncoding.DecodeString(e.Payload)
	forged := []byte(string(body[:len(body)-1]) + " ")
	e.Payload = base64.StdEncoding.EncodeToString(forged)
	tampered, _ := json.Marshal(e)
	if _, err := Verify(tampered, pub); !errors.Is(err, ErrSignature) {
		t.Fatalf("tampered payload: %v", err)
	}
	other, _ := GenerateKey(filepath.Join(dir, "o.pem"))
	env2, _ := other.Sign(rec)
	if _, err := Verify(env2, pub); !errors.Is(err, ErrSignature) {
		t.Fatalf("other key: %v", err)
	}
	if string(PAE("t", []byte("ab"))) != "DSSEv1 1 t 2 ab" {
		t.Fatal("PAE")
	}
}

func TestCoversRefusesARecordThatDoesNotBackTheRelease(t *testing.T) {
	const commit = "3f1c9a0b7d2e4f6512ab34cd56ef7890a1b2c3d4"
	good := Record{RequestID: "r1", Service: "orders", Environment: "prod", Commit: commit[:12], Digests: []string{"sha256:aa", "sha256:bb"}, Decision: "approved"}
	cases := []struct {
		name                 string
		edit                 func(*Record)
		service, env, commit string
		digests              []string
		want                 string // "" covers
	}{
		{"the record backs the release", nil, "orders", "prod", commit, []string{"sha256:aa"}, ""},
		{"no service or commit expected", nil, "", "prod", "", []string{"sha256:bb"}, ""},
		{"a rejected decision", func(r *Record) { r.Decision = "rejected" }, "orders", "prod", commit, nil, `decision is "rejected"`},
		{"an expired decision", func(r *Record) { r.Decision = "expired" }, "orders", "prod", commit, nil, `decision is "expired"`},
		{"another service", nil, "payments", "prod", commit, nil, `it approves service "orders", not "payments"`},
		{"a record naming no service", func(r *Record) { r.Service = "" }, "", "prod", commit, nil, "it names no service"},
		{"another environment", nil, "orders", "staging", commit, nil, `it approves environment "prod", not "staging"`},
		{"another commit", nil, "orders", "prod", "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d", nil, `it approves commit "3f1c9a0b7d2e", not "9e8d7c6b5a4f`},
		{"a record with a too short commit", func(r *Record) { r.Commit = "3f1" }, "orders", "prod", commit, nil, `it approves commit "3f1"`},
		{"a record without a commit", func(r *Record) { r.Commit = "" }, "orders", "prod", commit, nil, `it approves commit ""`},
		{"another digest", nil, "orders", "prod", commit, []string{"sha256:cc"}, "it does not cover sha256:cc"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := good
			if c.edit != nil {
				c.edit(&r)
			}
			err := r.Covers(c.service, c.env, c.commit, c.digests)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "request r1") {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
}
