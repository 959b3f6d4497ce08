package decision

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
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
