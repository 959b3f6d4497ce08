package main

import (
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/release/releasetest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func TestAnApprovalCountsOnlyThroughARelaySignedRecord(t *testing.T) {
	f := setup(t)
	if err := f.kit.WriteKeyFiles(); err != nil {
		t.Fatal(err)
	}
	keyArgs := []string{"--plain-http", "--release-key", f.kit.ReleaseKeyFile, "--release-password-file", f.pass}
	t.Run("verify without --relay-pub is bad input", func(t *testing.T) {
		rel := f.build(t, releasetest.Spec{})
		var args []string
		for i, a := range f.evidenceArgs("prod") {
			if a == "--relay-pub" || (i > 0 && f.evidenceArgs("prod")[i-1] == "--relay-pub") {
				continue
			}
			args = append(args, a)
		}
		code, r, stdout, _ := run(t, 1, append([]string{"verify", "--image", rel.Digest}, args...)...)
		if code != result.ExitInput || stdout != "" || !strings.Contains(r.Message, "relay-pub") {
			t.Fatalf("exit %d stdout %q: %s", code, stdout, r.Message)
		}
	})
	t.Run("an approval attestation without a record counts for nothing", func(t *testing.T) {
		rel := f.build(t, releasetest.Spec{NoDecisionRecord: true}) // as an attestRelease before this version made it
		code, r, stdout, _ := run(t, 1, append([]string{"verify", "--image", rel.Digest}, f.evidenceArgs("prod")...)...)
		if code != result.ExitRejected || stdout != "" || !strings.Contains(r.Message, "embeds no relay-signed decision record, so none of its approvers count") {
			t.Fatalf("verify: exit %d stdout %q: %s", code, stdout, r.Message)
		}
	})
	t.Run("attest approval refuses a record that does not verify or lacks its key", func(t *testing.T) {
		rel := f.build(t, releasetest.Spec{NoApproval: true})
		rec := f.recordArgs(t, rel, "alice", "bob")
		base := []string{"attest", "approval", "--image", rel.Digest, "--environment", "prod", "--rule", "prod-two"}
		other := f.recordArgs(t, f.build(t, releasetest.Spec{NoApproval: true}), "alice", "bob") // signed for another image
		cases := []struct {
			name  string
			extra []string
			code  int
			want  string
		}{
			{"no --decision-record", []string{"--approver", "alice", "--approver", "bob"}, result.ExitInput, "attest approval needs --decision-record"},
			{"no --relay-pub", rec[:2], result.ExitInput, "--decision-record needs --relay-pub"},
			{"--approver beside the record", append([]string{"--approver", "mallory"}, rec...), result.ExitInput, "the approvers are the record's"},
			{"the record checked with another key", []string{rec[0], rec[1], "--relay-pub", f.kit.CosignPub}, result.ExitRejected, "signature does not verify"},
			{"a record for another image", other, result.ExitRejected, "does not cover"},
		}
		for _, c := range cases {
			code, r, _, _ := run(t, 2, append(append(append([]string{}, base...), c.extra...), keyArgs...)...)
			if code != c.code || !strings.Contains(r.Message, c.want) {
				t.Fatalf("%s: exit %d %s, want exit %d containing %q", c.name, code, r.Message, c.code, c.want)
			}
		}
	})
}
