package provenance

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/audit"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// BlobSubject names a file by the sha256 of its content (streamed, never held in memory).
func BlobSubject(path string) (Subject, error) {
	f, err := os.Open(path)
	if err != nil {
		return Subject{}, result.Errorf(result.ClassInput, "blob %s: %v", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Subject{}, result.Errorf(result.ClassInput, "reading blob %s: %v", path, err)
	}
	return Subject{Name: filepath.Base(path), Digest: map[string]string{"sha256": hex.EncodeToString(h.Sum(nil))}}, nil
}

// GatesFromResults reads helper result files into gate outcomes: one per item, named "<verb>/<item>".
func GatesFromResults(paths []string) ([]Gate, error) {
	var out []Gate
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, result.Errorf(result.ClassInput, "gate result %s: %v", p, err)
		}
		var r result.Result
		if err := json.Unmarshal(b, &r); err != nil || r.Helper == "" {
			return nil, result.Errorf(result.ClassInput, "%s is not a helper result file", p)
		}
		if len(r.Items) == 0 {
			out = append(out, Gate{Name: strings.TrimSpace(r.Helper + " " + r.Verb), Status: r.Status})
		}
		for _, it := range r.Items {
			out = append(out, Gate{Name: it.Name, Status: it.Status})
		}
	}
	return out, nil
}

// ApproversFromAudit returns the approvals for environment recorded in slack-approval audit files.
func ApproversFromAudit(paths []string, environment string) ([]Approver, error) {
	var out []Approver
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, result.Errorf(result.ClassInput, "audit file %s: %v", p, err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			var a audit.Record
			if err := json.Unmarshal([]byte(line), &a); err != nil {
				return nil, result.Errorf(result.ClassInput, "%s line %d is not a slack-approval audit record", p, i+1)
			}
			if a.Event == audit.EventApproved && (a.Environment == environment || a.Environment == "") && a.User != "" {
				out = append(out, Approver{User: a.User, At: a.Time.UTC()})
			}
		}
	}
	return out, nil
}

// ParseApprover reads "user" or "user@2026-01-02T03:04:05Z".
func ParseApprover(s string, now time.Time) (Approver, error) {
	u, at, ok := strings.Cut(s, "@")
	if u == "" {
		return Approver{}, result.Errorf(result.ClassInput, "--approver %q: want user or user@RFC3339-time", s)
	}
	a := Approver{User: u, At: now.UTC()}
	if ok {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return Approver{}, result.Errorf(result.ClassInput, "--approver %q: time is not RFC 3339", s)
		}
		a.At = t.UTC()
	}
	return a, nil
}
