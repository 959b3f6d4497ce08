package release

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/params"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

const trust = `"expectRepo":"r","expectBranch":"main","cosignKeys":["c.pub"],"releaseKeys":["r.pub"],"trustPolicy":"tp.json","trustStore":"ts"`

func TestStepParamsValidateNamesTheJenkinsfileKey(t *testing.T) {
	job := params.Context{JobURL: "https://ci.example.com/job/orders/"}
	cases := []struct {
		doc  string
		ctx  params.Context
		want string
	}{
		{`{"environment":"prod",` + trust + `}`, job, "parameter 'image' is required unless 'rollback' is set"},
		{`{"environment":"prod","image":"i"}`, job, "parameter 'expectRepo' is required"},
		{`{"environment":"prod","image":"i",` + strings.Replace(trust, `["c.pub"]`, `[]`, 1) + `}`, job, "parameter 'cosignKeys' is required"},
		{`{"environment":"prod","image":"i",` + strings.Replace(trust, `"tp.json"`, `" "`, 1) + `}`, job, "parameter 'trustPolicy' is required"},
		{`{"environment":"prod","image":"i",` + trust + `}`, params.Context{}, "missing expectBuilder (or run in a job with JOB_URL)"},
		{`{"environment":"prod","rollback":true,"image":"i",` + trust + `}`, job, "rollback finds the image itself; drop image"},
		{`{"environment":"prod","rollback":true,` + trust + `}`, job, "rollback needs index (the evidence index written by earlier verifyRelease calls) and auditPubs"},
		{`{"environment":"prod","image":"i","ledger":"l.jsonl",` + trust + `}`, job, "index, ledger and rollback records are signed: set auditKey or auditKeyCredentialsId"},
		{`{"environment":"prod","image":"i","auditKey":"a","auditKeyCredentialsId":"c",` + trust + `}`, job, "set auditKey or auditKeyCredentialsId, not both"},
		{`{"environment":"prod","image":"i","auditKey":"pkcs11:token=a?pin-value=9",` + trust + `}`, job, "a pin-value in auditKey is refused"},
		{`{"environment":"prod","image":"i","minApprovals":0,` + trust + `}`, job, "minApprovals must be a whole number of at least 1; got 0"},
		{`{"environment":"prod","image":"i","blobs":{"bin/orders":""},` + trust + `}`, job, "blobs maps each file to its signature file"},
		{`{"image":"i",` + trust + `}`, job, "parameter 'environment' is required"},
		{`{"environment":"prod","image":"i","ledgerHead":"ab",` + trust + `}`, job, "ledgerHead 'ab' applies to a ledger: set ledger"},
		{`{"environment":"prod","image":"i","indexHead":"ab",` + trust + `}`, job, "indexHead 'ab' applies only with rollback: true"},
		{`{"environment":"prod","image":"i","minApprovals":"2",` + trust + `}`, job, "parameter 'minApprovals' must be an Integer"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			var p StepParams
			err := params.Decode(json.RawMessage(c.doc), &p)
			if err == nil {
				p.FromContext(c.ctx)
				err = p.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || result.ClassOf(err) != result.ClassInput || strings.Contains(err.Error(), "=9") {
				t.Fatalf("err = %v, want input error %q", err, c.want)
			}
		})
	}
	var p StepParams
	if err := params.Decode(json.RawMessage(`{"environment":"prod","image":"i",`+trust+`}`), &p); err != nil {
		t.Fatal(err)
	}
	p.FromContext(job)
	if err := p.Validate(); err != nil || p.ExpectBuilder != job.JobURL || p.MinApprovals != 1 {
		t.Fatalf("defaults: %+v, %v", p, err)
	}
}
