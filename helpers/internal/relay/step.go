package relay

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/decision"
	"github.com/release-gates/release-gates/helpers/internal/params"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// BackstopSeconds is how long past timeout the step's input waits before giving up (the relay expires the request first).
const BackstopSeconds = 300

// Step declares the slackApproval pipeline step (verbs request and verify; the input runs in Jenkins between them).
var Step = params.Step{
	Name:   StepName,
	Helper: "slack-approval",
	Params: func() params.Validator { return &StepParams{} },
	Credentials: []params.Credential{
		{Param: "relayCredentialsId", Kind: params.KindString, Role: "relayToken", Variable: RelayTokenEnv, Verb: "request"},
	},
	Help: `slackApproval: asks the approval relay for a release approval, waits for its one signed answer, and verifies it.
The relay is the authority: it takes the rule for service × environment from its own, platform-owned rbac.yaml
(approvers, required, allowSelfApproval, branches, escalation, maxTimeout), derives the requester from Jenkins (the
build's user cause, or the commit authors mapped in rbac.yaml identities), posts the Block Kit message itself, counts
the clicks (stored in its database before each is acknowledged), shows progress in the message ("1 of 2: bob
approved"), escalates and expires on its own clock, and answers this build's input exactly once, when the quorum is
met or at the first Reject, with a decision record signed by its decision key. This step counts nothing:
  1. "slackApproval: request" (slack-approval request) sends the request to the relay (POST /v1/approvals, with this
     controller's relay credential); the relay refuses a build outside its configured Jenkins, a build that is not
     running, a service or environment without a rule, and a branch the rule does not take.
  2. one input (id and submitter from the relay, outside any node, under timeout + 5 minutes as a backstop) waits.
  3. "slackApproval: verify" (slack-approval verify) checks the decision record against relayPublicKey and that it is
     this request's; the record (DSSE envelope) is kept as <resultFile base>-decision.json for attestRelease.
The runner checks the Map against resources/steps/slackApproval.json before anything runs.

Call it OUTSIDE node: a waiting approval must hold no executor. With agentLabel the helper calls run in
node(agentLabel) (unstash brings the summaries and the public key there) and the result, rule and decision record
are stashed as 'rg-slack-approval' for attestRelease on another agent.

Secrets: only the relay credential (relayCredentialsId, secret text, bound as RG_RELAY_TOKEN for the request call).
The pipeline holds no Slack token and no button key: those live in the relay.

Returns a Map: decision ('approved'), approvers ([approver:, approverName:, eventId:, at:] each, from the signed
record), approverNames, rejectedBy, required, requesters, requestId, traceId, service, environment, version, channel,
ts, decisionRecord (path of the DSSE envelope), relayKeyId. The same map is written to resultFile (also on reject or
expiry, with that decision) and archived with the helper results.

Fails the build with:
  slackApproval: rejected: the relay decided rejected (request <id>, by <names>)   a Reject click decided
  slackApproval: rejected: the relay decided expired (request <id>)                the relay's deadline passed
  slackApproval: bad input or configuration: the approval relay refused the request: ...   e.g. no rule, build not running (exit 2)
  slackApproval: rejected: the approval relay refused the request: branch ...              the rule does not take the branch (exit 1)
  slackApproval: infrastructure unavailable: ... (retry later)          the relay or Slack did not answer (exit 3)
  slackApproval: rejected: decision record signature does not verify    the answer was not signed by the relay's key
  slackApproval: rejected: the input was answered without the relay's decision   someone answered in Jenkins, not Slack
  slackApproval: the wait for the relay's answer ended without one      aborted, or past timeout + 5m
  slackApproval: unknown parameter 'x' ...                              a key not listed below (before anything runs)`,
	Footer: `Example (declarative; the stage has no agent so the wait holds no executor):
  stage('Approval') {
    agent none
    steps {
      script {
        def approval = slackApproval(relayUrl: 'https://approvals.example.com', relayPublicKey: 'ci/relay-decision.pub',
                                     channel: 'C0123ABCD', service: 'payments', environment: 'prod', version: env.TAG_NAME,
                                     agentLabel: 'linux', unstash: ['release-evidence'])
        echo "approved by ${approval.approverNames.join(', ')}"
      }
    }
  }`,
}

// RequestReturns is what the request verb returns to the step: the relay's answer and how the step waits for it.
func (d *StepDoc) RequestReturns(resp *ApprovalResponse) (map[string]any, []string) {
	secs, _ := d.Params.TimeoutSeconds()
	p := d.Params
	ret := map[string]any{"requestId": resp.RequestID, "inputId": resp.InputID, "submitter": resp.Submitter, "inputParams": resp.InputParams,
		"deadline": resp.Deadline.Format(time.RFC3339), "channel": resp.Channel, "ts": resp.TS, "rule": resp.Rule, "requesters": resp.Requesters,
		"keyId": resp.KeyID, "timeout": p.Timeout, "backstopSeconds": secs + BackstopSeconds,
		"inputMessage": fmt.Sprintf("Release %s %s to %s: approve or reject in Slack; the approval relay answers here.", p.Service, p.Version, p.Environment)}
	summary := fmt.Sprintf("slackApproval: waiting for %d approval(s) of %s %s to %s in Slack (%s, request %s); the relay (%s) answers input '%s' by %s",
		resp.Rule.Required, p.Service, p.Version, p.Environment, resp.Channel, resp.RequestID, resp.Submitter, resp.InputID, resp.Deadline.Format(time.RFC3339))
	return ret, []string{summary}
}

// VerifyOutcome is what the verify verb records: the step's returned map and the files it wrote.
type VerifyOutcome struct {
	Record  *decision.Record // nil when the answer or its signature did not check out
	Returns map[string]any
	Files   []string // resultFile, the decision record and the rule file, for archiving
	Summary []string
	Err     error
}

// Verify checks what the input returned (d.Input) against relayPublicKey and this request, writes the decision
// record, the rule file (<base>-rule.json, for attestRelease) and resultFile (the returned map, on every outcome).
func (d *StepDoc) Verify() *VerifyOutcome {
	p, req := d.Params, d.Input.Request
	out := &VerifyOutcome{}
	recordFile := SiblingPath(p.ResultFile, "-decision.json")
	answer, _ := d.Input.Answer.(map[string]any)
	env, _ := answer["decisionRecord"].(string)
	gotID, _ := answer["requestId"].(string)
	switch {
	case req.RequestID == "":
		out.Err = inputf("params document input.request has no requestId: the step passes the request's returns to verify")
	case env == "" || gotID != req.RequestID:
		out.Err = result.Errorf(result.ClassTamper, "the input was answered without the relay's decision for request %s; answer only in Slack", req.RequestID)
	}
	if out.Err == nil {
		out.Err = atomicfile.WriteFile(recordFile, []byte(env), 0o644)
		if out.Err == nil {
			out.Files = append(out.Files, recordFile)
			out.Record, out.Err = verifyRecord([]byte(env), p.RelayPublicKey, map[string]string{"requestId": req.RequestID, "service": p.Service, "environment": p.Environment})
		}
	}
	out.Returns = d.outcome(out.Record, recordFile)
	if out.Record != nil && out.Record.Decision != "approved" {
		by := ""
		if out.Record.Decision == "rejected" {
			by = ", by " + strings.Join(toStrings(out.Returns["rejectedBy"]), ", ")
		}
		out.Err = result.Errorf(result.ClassPolicy, "the relay decided %s (request %s%s)", out.Record.Decision, req.RequestID, by)
	}
	if err := d.writeFiles(out); err != nil && out.Err == nil {
		out.Err = err
	}
	if out.Err == nil {
		names, required := toStrings(out.Returns["approverNames"]), "?"
		if r, ok := out.Returns["required"].(*int); ok && r != nil {
			required = fmt.Sprint(*r)
		}
		out.Summary = []string{fmt.Sprintf("slackApproval: approved by %s (%d of %s); decision record verified", strings.Join(names, " and "), len(names), required)}
	}
	return out
}

func verifyRecord(env []byte, pubPath string, want map[string]string) (*decision.Record, error) {
	pub, err := decision.LoadPublicKey(pubPath)
	if err != nil {
		return nil, result.Errorf(result.ClassConfig, "relayPublicKey: %v", err)
	}
	rec, err := decision.Verify(env, pub)
	if err != nil {
		return nil, result.Errorf(result.ClassTamper, "%v: the approval cannot be trusted", err)
	}
	for _, c := range []struct{ key, got string }{{"requestId", rec.RequestID}, {"service", rec.Service}, {"environment", rec.Environment}} {
		if want[c.key] != "" && want[c.key] != c.got {
			return nil, result.Errorf(result.ClassTamper, "the decision record is for %s '%s', not '%s'", c.key, c.got, want[c.key])
		}
	}
	return &rec, nil
}

// outcome is the step's returned map (decision 'unverified' when the record did not verify).
func (d *StepDoc) outcome(rec *decision.Record, recordFile string) map[string]any {
	p, req := d.Params, d.Input.Request
	approvers, names, rejectedBy := []any{}, []string{}, []string{}
	decided, traceID, requesters := "unverified", "", req.Requesters
	if rec != nil {
		decided, traceID = rec.Decision, rec.TraceID
		if len(rec.Requesters) > 0 {
			requesters = rec.Requesters
		}
		for _, a := range rec.Approvers {
			if a.Decision == "approve" {
				approvers = append(approvers, map[string]any{"approver": a.SlackID, "approverName": a.Name, "eventId": a.EventID, "at": a.At.Format(time.RFC3339Nano)})
				names = append(names, a.Name)
			} else {
				rejectedBy = append(rejectedBy, a.Name)
			}
		}
	}
	var rule struct {
		Required *int `json:"required"`
	}
	_ = json.Unmarshal(req.Rule, &rule)
	if requesters == nil {
		requesters = []string{}
	}
	return map[string]any{"decision": decided, "approvers": approvers, "approverNames": names, "rejectedBy": rejectedBy, "required": rule.Required,
		"requesters": requesters, "requestId": req.RequestID, "traceId": traceID, "service": p.Service, "environment": p.Environment,
		"version": p.Version, "channel": req.Channel, "ts": req.TS, "decisionRecord": recordFile, "relayKeyId": req.KeyID}
}

func (d *StepDoc) writeFiles(out *VerifyOutcome) error {
	ruleFile := SiblingPath(d.Params.ResultFile, "-rule.json")
	rule := d.Input.Request.Rule
	if len(rule) == 0 {
		rule = json.RawMessage("null")
	}
	for _, f := range []struct {
		path string
		v    any
	}{{ruleFile, map[string]any{"data": map[string]any{"rule": rule}}}, {d.Params.ResultFile, out.Returns}} {
		b, err := json.MarshalIndent(f.v, "", "  ")
		if err != nil {
			return result.Errorf(result.ClassInternal, "encoding %s: %v", f.path, err)
		}
		if err := atomicfile.WriteFile(f.path, append(b, '\n'), 0o644); err != nil {
			return result.Errorf(result.ClassUnavailable, "writing %s: %v", f.path, err)
		}
		out.Files = append(out.Files, f.path)
	}
	return nil
}

func toStrings(v any) []string {
	s, _ := v.([]string)
	return s
}
