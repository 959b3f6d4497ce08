package relay

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/params"
	"github.com/release-gates/release-gates/helpers/internal/result"
	rgslack "github.com/release-gates/release-gates/helpers/internal/slack"
)

// StepName is the slackApproval step's name.
const StepName = "slackApproval"

// RelayTokenEnv is the env var the step binds the relay credential (relayCredentialsId) to.
const RelayTokenEnv = "RG_RELAY_TOKEN"

// RelayURLEnv is the env var relayUrl defaults to.
const RelayURLEnv = "RG_RELAY_URL"

// StepParams is the slackApproval step's Map; one field per Jenkinsfile key.
type StepParams struct {
	RelayURL           string   `json:"relayUrl" doc:"the approval relay's base URL; default env.RG_RELAY_URL (then required)." example:"'https://approvals.example.com'"`
	RelayPublicKey     string   `json:"relayPublicKey" required:"true" doc:"PEM public key of the relay's decision key, relative to the workspace (slack-approval keygen writes it)." example:"'ci/relay-decision.pub'"`
	RelayCredentialsID string   `json:"relayCredentialsId" default:"\"release-gates-relay\"" doc:"secret text credential: this controller's relay credential (bound as RG_RELAY_TOKEN for the request call only)." example:"'approvals-relay'"`
	Channel            string   `json:"channel" doc:"Slack channel id (C...); required unless the relay's rule names a channel." example:"'C0123ABCD'"`
	Service            string   `json:"service" required:"true" doc:"service name, matched against the relay's rules." example:"'payments'"`
	Environment        string   `json:"environment" required:"true" doc:"target environment." example:"'prod'"`
	Version            string   `json:"version" required:"true" doc:"release version shown in the message." example:"env.TAG_NAME"`
	Commit             string   `json:"commit" doc:"commit sha; default env.GIT_COMMIT (required when that is unset)." example:"'4f2c1e9'"`
	Branch             string   `json:"branch" doc:"release branch, checked against the rule's branches; default env.BRANCH_NAME." example:"'main'"`
	Digests            []string `json:"digests" default:"[]" doc:"artifact digests (sha256:...) the approval covers; digests in summaries are added." example:"['sha256:9f86d0...']"`
	Summaries          []string `json:"summaries" default:"[]" doc:"result files of earlier steps, summarised in the message." example:"['.release-gates/goBuildGate.json', '.release-gates/signArtifacts.json']"`
	Requesters         []string `json:"requesters" default:"[]" doc:"Slack user ids to add as requesters; Jenkins' own requester is never removed." example:"['U0123ABCD']"`
	Timeout            string   `json:"timeout" default:"\"24h\"" doc:"longest wait (h, m, s), capped by the rule's maxTimeout; the relay expires the request then." example:"'8h'"`
	AgentLabel         string   `json:"agentLabel" doc:"run the helper calls in node(agentLabel) so the wait holds no executor." example:"'linux'"`
	Unstash            []string `json:"unstash" default:"[]" doc:"stashes to unstash in each node(agentLabel) block; needs agentLabel." example:"['release-evidence']"`
	ResultFile         string   `json:"resultFile" default:"\".release-gates/slackApproval.json\"" doc:"the returned map as JSON; helper results and the decision record sit beside it." example:"'.release-gates/prod-approval.json'"`
}

var durationRE = regexp.MustCompile(`^([0-9]+h)?([0-9]+m)?([0-9]+s)?$`)

func inputf(format string, args ...any) error {
	return result.Errorf(result.ClassInput, format, args...)
}

// FromContext fills relayUrl from env.RG_RELAY_URL (getenv) and commit and branch from the build context when the Map leaves them unset.
func (p *StepParams) FromContext(c params.Context, getenv func(string) string) {
	if p.RelayURL == "" && getenv != nil {
		p.RelayURL = getenv(RelayURLEnv)
	}
	if p.Commit == "" {
		p.Commit = c.GitCommit
	}
	if p.Branch == "" {
		p.Branch = c.Branch
	}
}

// Validate checks the rules the schema cannot (after FromContext); each message names the Jenkinsfile key.
func (p *StepParams) Validate() error {
	switch {
	case p.RelayURL == "":
		return inputf("relayUrl is required (the approval relay, e.g. https://approvals.example.com), or set env.RG_RELAY_URL")
	case !strings.HasPrefix(p.RelayURL, "https://") && !strings.HasPrefix(p.RelayURL, "http://"):
		return inputf("relayUrl '%s' is not an http(s) URL, e.g. https://approvals.example.com", p.RelayURL)
	case p.Service == "" || p.Environment == "" || p.Version == "" || p.RelayPublicKey == "":
		return inputf("service, environment, version and relayPublicKey are required")
	case p.Commit == "":
		return inputf("commit is required when env.GIT_COMMIT is not set")
	case p.Branch == "":
		return inputf("branch is required when env.BRANCH_NAME is not set")
	case len(p.Unstash) > 0 && p.AgentLabel == "":
		return inputf("unstash applies to the node(agentLabel) blocks: set agentLabel too, or unstash before calling the step")
	}
	if _, err := p.TimeoutSeconds(); err != nil {
		return err
	}
	return nil
}

// TimeoutSeconds returns timeout in whole seconds ('24h', '90m', '1h30m', '45s').
func (p *StepParams) TimeoutSeconds() (int64, error) {
	d, err := time.ParseDuration(p.Timeout)
	if err != nil || p.Timeout == "" || !durationRE.MatchString(p.Timeout) || d < time.Second {
		return 0, inputf("timeout must be a duration like '24h', '90m' or '1h30m'; got '%s'", p.Timeout)
	}
	return int64(d / time.Second), nil
}

// StepRequest is what the request verb returned, passed back by the step to verify.
type StepRequest struct {
	RequestID  string          `json:"requestId"`
	Channel    string          `json:"channel"`
	TS         string          `json:"ts"`
	KeyID      string          `json:"keyId"`
	Requesters []string        `json:"requesters"`
	Rule       json.RawMessage `json:"rule"`
}

// StepInput is the params document's "input" for verify: what the input step returned and the request's returns.
type StepInput struct {
	Answer  any         `json:"answer"`
	Request StepRequest `json:"request"`
}

// StepDoc is slackApproval's params document as the runner writes it, with the decoded Params.
type StepDoc struct {
	*params.Doc
	Params StepParams
	Input  StepInput
}

// ReadStepParams reads a params document, strictly decodes and validates the Map (errors name the Jenkinsfile key),
// using getenv for env.RG_RELAY_URL.
func ReadStepParams(path string, getenv func(string) string) (*StepDoc, error) {
	doc, _, err := params.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if doc.Step != StepName {
		return nil, inputf("slack-approval takes the slackApproval step's params, not %s's", doc.Step)
	}
	d := &StepDoc{Doc: doc}
	if err := params.Decode(doc.Params, &d.Params); err != nil {
		return nil, err
	}
	d.Params.FromContext(doc.Context, getenv)
	if err := d.Params.Validate(); err != nil {
		return nil, err
	}
	if len(doc.Input) > 0 {
		var raw struct {
			Answer  any             `json:"answer"`
			Request json.RawMessage `json:"request"`
		}
		if err := json.Unmarshal(doc.Input, &raw); err != nil {
			return nil, inputf("params document input: %v", err)
		}
		d.Input.Answer = raw.Answer
		if len(raw.Request) > 0 {
			if err := json.Unmarshal(raw.Request, &d.Input.Request); err != nil {
				return nil, inputf("params document input.request: %v", err)
			}
		}
	}
	return d, nil
}

// Request builds the request API body (summaries read, their digests added).
func (d *StepDoc) Request(traceID string) (ApprovalRequest, error) {
	p := d.Params
	if d.Context.TraceID != "" {
		traceID = d.Context.TraceID
	}
	ar := ApprovalRequest{BuildURL: d.Context.BuildURL, TraceID: traceID, Service: p.Service, Environment: p.Environment, Version: p.Version,
		Commit: p.Commit, Branch: p.Branch, Channel: p.Channel, Digests: append([]string(nil), p.Digests...), Requesters: p.Requesters, Timeout: p.Timeout}
	if ar.BuildURL == "" {
		return ar, inputf("env.BUILD_URL is not set: the relay answers this build's input")
	}
	for _, f := range p.Summaries {
		s, err := rgslack.LoadSummary(f)
		if err != nil {
			return ar, inputf("summaries: %v", err)
		}
		ar.Summary = append(ar.Summary, s.Helper+" "+s.Verb+": "+s.Status)
		ar.Summary = append(ar.Summary, s.Lines...)
		for _, dg := range s.Digests {
			if !contains(ar.Digests, dg) {
				ar.Digests = append(ar.Digests, dg)
			}
		}
	}
	return ar, nil
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

// RelayURL returns the relay's base URL.
func (d *StepDoc) RelayURL() string { return d.Params.RelayURL }

// Service returns the service named in the params.
func (d *StepDoc) Service() string { return d.Params.Service }

// TokenEnv returns the env var the relay credential is bound to.
func (d *StepDoc) TokenEnv() string {
	if n := d.SecretEnv("relayToken"); n != "" {
		return n
	}
	return RelayTokenEnv
}

// SiblingPath returns resultFile with its .json suffix replaced by suffix (as the Groovy runner names its files).
func SiblingPath(resultFile, suffix string) string {
	return strings.TrimSuffix(resultFile, ".json") + suffix
}
