package decision

import (
	"crypto"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// VerifyAny checks env against each of pubs (ECDSA keys; others are skipped) and returns the record of the first that verifies.
func VerifyAny(env []byte, pubs []crypto.PublicKey) (Record, error) {
	var last error = ErrSignature
	for _, k := range pubs {
		ek, ok := k.(*ecdsa.PublicKey)
		if !ok {
			continue
		}
		r, err := Verify(env, ek)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, ErrSignature) {
			return Record{}, err
		}
		last = err
	}
	return Record{}, last
}

// Covers reports why r does not approve releasing digests of service to environment from commit ("" service or
// commit: not checked; the record must name a service all the same), or nil.
func (r Record) Covers(service, environment, commit string, digests []string) error {
	var why []string
	if r.Decision != "approved" {
		why = append(why, fmt.Sprintf("decision is %q", r.Decision))
	}
	switch {
	case r.Service == "":
		why = append(why, "it names no service")
	case service != "" && r.Service != service:
		why = append(why, fmt.Sprintf("it approves service %q, not %q", r.Service, service))
	}
	if r.Environment != environment {
		why = append(why, fmt.Sprintf("it approves environment %q, not %q", r.Environment, environment))
	}
	if commit != "" && (len(r.Commit) < 7 || !(strings.HasPrefix(commit, r.Commit) || strings.HasPrefix(r.Commit, commit))) {
		why = append(why, fmt.Sprintf("it approves commit %q, not %q", r.Commit, commit))
	}
	have := map[string]bool{}
	for _, d := range r.Digests {
		have[d] = true
	}
	for _, d := range digests {
		if !have[d] {
			why = append(why, fmt.Sprintf("it does not cover %s (it covers %s)", d, strings.Join(r.Digests, ", ")))
		}
	}
	if len(why) > 0 {
		return fmt.Errorf("the relay-signed decision record (request %s) does not back this release: %s", r.RequestID, strings.Join(why, "; "))
	}
	return nil
}

// ApprovedBy returns the distinct Slack ids whose counted click approved, sorted.
func (r Record) ApprovedBy() []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range r.Approvers {
		if a.Decision == "approve" && a.SlackID != "" && !seen[a.SlackID] {
			seen[a.SlackID] = true
			out = append(out, a.SlackID)
		}
	}
	sort.Strings(out)
	return out
}
