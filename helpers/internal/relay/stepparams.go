package relay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"time"

	rgslack "github.com/release-gates/release-gates/helpers/internal/slack"
)

// StepParams is the slackApproval step's Map; one field per Jenkinsfile key (vars/slackApproval.txt).
type StepParams struct {
	RelayURL           string   `json:"relayUrl" doc:"the approval relay's base URL (https://...); default env.RG_RELAY_URL."`
	RelayPublicKey     string   `json:"relayPublicKey" doc:"PEM public key of the relay's decision key; the signed decision is verified with it."`
	RelayCredentialsID string   `json:"relayCredentialsId" default:"\"release-gates-relay\"" doc:"secret text credential: this controller's relay credential, bound as RG_RELAY_TOKEN."`
	Channel            string   `json:"channel" doc:"Slack channel id (C...) unless the relay's rule names one."`
	Service            string   `json:"service" doc:"service name, matched against the relay's approval rules."`
	Environment        string   `json:"environment" doc:"target environment."`
	Version            string   `json:"version" doc:"release version shown in the message."`
	Commit             string   `json:"commit" doc:"commit sha; default env.GIT_COMMIT."`
	Branch             string   `json:"branch" doc:"release branch; default env.BRANCH_NAME."`
	Digests            []string `json:"digests" default:"[]" doc:"artifact digests (sha256:...) the approval covers; digests found in summaries are added."`
	Summaries          []string `json:"summaries" default:"[]" doc:"result files of earlier steps, summarised in the message."`
	Requesters         []string `json:"requesters" default:"[]" doc:"Slack user ids to add as requesters (the relay derives the build's own requester from Jenkins)."`
	Timeout            string   `json:"timeout" default:"\"24h\"" doc:"longest wait (capped by the rule's maxTimeout); the relay expires the request at its deadline."`
	AgentLabel         string   `json:"agentLabel" doc:"run the helper calls in node(agentLabel); the wait holds no executor."`
	ResultFile         string   `json:"resultFile" default:"\".release-gates/slackApproval.json\"" doc:"the returned map as JSON; helper results and the decision record sit beside it."`
}

// StepContext is the build context the step adds.
type StepContext struct {
	BuildURL  string `json:"buildUrl"`
	TraceID   string `json:"traceId"`
	GitCommit string `json:"gitCommit"`
	Branch    string `json:"branch"`
}

// StepInput is what the step's input returned (the relay's parameters), for verify.
type StepInput struct {
	Decision       string `json:"decision"`
	RequestID      string `json:"requestId"`
	DecisionRecord string `json:"decisionRecord"`
}

// StepDoc is slackApproval's params document: {step, params, context, secrets[, input]}.
type StepDoc struct {
	Step    string            `json:"step"`
	Params  StepParams        `json:"params"`
	Context StepContext       `json:"context"`
	Secrets map[string]string `json:"secrets"`
	Input   StepInput         `json:"input"`
}

// ReadStepParams reads and strictly decodes a params document (unknown Jenkinsfile keys are errors).
func ReadStepParams(path string) (*StepDoc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("params file: %v", err)
	}
	var probe struct {
		Params  json.RawMessage `json:"params"`
		Context json.RawMessage `json:"context"`
		Step    string          `json:"step"`
		Secrets map[string]string
		Input   map[string]any `json:"input"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("params file %s: %v", path, err)
	}
	d := &StepDoc{Step: probe.Step, Secrets: probe.Secrets, Params: StepParams{RelayCredentialsID: "release-gates-relay", Timeout: "24h",
		ResultFile: ".release-gates/slackApproval.json"}}
	dec := json.NewDecoder(bytes.NewReader(probe.Params))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d.Params); err != nil {
		return nil, fmt.Errorf("slackApproval: %v (see vars/slackApproval.txt)", err)
	}
	for k, v := range probe.Input {
		str, _ := v.(string)
		switch k {
		case "decision":
			d.Input.Decision = str
		case "requestId":
			d.Input.RequestID = str
		case "decisionRecord":
			d.Input.DecisionRecord = str
		}
	}
	if len(probe.Context) > 0 {
		_ = json.Unmarshal(probe.Context, &d.Context) // the context has more fields than this step reads
	}
	return d, nil
}

var durationRE = regexp.MustCompile(`^([0-9]+h)?([0-9]+m)?([0-9]+s)?$`)

// Request builds the request API body, checking each key and naming it in errors.
func (d *StepDoc) Request(traceID string) (ApprovalRequest, error) {
	p := d.Params
	commit, branch := p.Commit, p.Branch
	if commit == "" {
		commit = d.Context.GitCommit
	}
	if branch == "" {
		branch = d.Context.Branch
	}
	if d.Context.TraceID != "" {
		traceID = d.Context.TraceID
	}
	ar := ApprovalRequest{BuildURL: d.Context.BuildURL, TraceID: traceID, Service: p.Service, Environment: p.Environment, Version: p.Version,
		Commit: commit, Branch: branch, Channel: p.Channel, Digests: append([]string(nil), p.Digests...), Requesters: p.Requesters, Timeout: p.Timeout}
	switch {
	case p.RelayURL == "":
		return ar, fmt.Errorf("slackApproval: relayUrl is required (or set env.RG_RELAY_URL)")
	case p.Service == "" || p.Environment == "" || p.Version == "":
		return ar, fmt.Errorf("slackApproval: service, environment and version are required")
	case commit == "":
		return ar, fmt.Errorf("slackApproval: parameter 'commit' is required when env.GIT_COMMIT is not set")
	case branch == "":
		return ar, fmt.Errorf("slackApproval: parameter 'branch' is required when env.BRANCH_NAME is not set")
	case ar.BuildURL == "":
		return ar, fmt.Errorf("slackApproval: env.BUILD_URL is not set: the relay answers this build's input")
	}
	if _, err := time.ParseDuration(p.Timeout); err != nil || !durationRE.MatchString(p.Timeout) {
		return ar, fmt.Errorf("slackApproval: timeout %q: a duration like '24h', '90m' or '1h30m'", p.Timeout)
	}
	for _, f := range p.Summaries {
		s, err := rgslack.LoadSummary(f)
		if err != nil {
			return ar, fmt.Errorf("slackApproval: summaries: %v", err)
		}
		ar.Summary = append(ar.Summary, s.Helper+" "+s.Verb+": "+s.Status)
		for _, l := range s.Lines {
			ar.Summary = append(ar.Summary, l)
		}
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
	if n := d.Secrets["relayToken"]; n != "" {
		return n
	}
	return "RG_RELAY_TOKEN"
}
