package provenance

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Statement and predicate type URIs.
const (
	StatementType         = "https://in-toto.io/Statement/v1"
	SLSAPredicateType     = "https://slsa.dev/provenance/v1"
	ApprovalPredicateType = "https://release-gates.dev/approval/v1"
	BuildType             = "https://release-gates.dev/jenkins-go-build/v1"
	PayloadType           = "application/vnd.in-toto+json"
)

// Subject names one artifact by digest.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Statement is an in-toto v1 statement with a typed predicate.
type Statement[P any] struct {
	Type          string    `json:"_type"`
	Subject       []Subject `json:"subject"`
	PredicateType string    `json:"predicateType"`
	Predicate     P         `json:"predicate"`
}

// SLSA is the SLSA v1 provenance predicate (field names as in the spec).
type SLSA struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition says what was built and how.
type BuildDefinition struct {
	BuildType            string               `json:"buildType"`
	ExternalParameters   ExternalParameters   `json:"externalParameters"`
	InternalParameters   InternalParameters   `json:"internalParameters"`
	ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies,omitempty"`
}

// ExternalParameters are the inputs a user controls: source and branch.
type ExternalParameters struct {
	Repository string `json:"repository"`
	Branch     string `json:"branch"`
	Module     string `json:"module,omitempty"`
}

// InternalParameters are what the builder chose: toolchain, platform and the gate results.
type InternalParameters struct {
	GoVersion string `json:"goVersion,omitempty"`
	GOOS      string `json:"GOOS,omitempty"`
	GOARCH    string `json:"GOARCH,omitempty"`
	Gates     []Gate `json:"gates,omitempty"`
	// LedgerCheckpoint is the checkpoint predicate type when attestRelease also attaches a ledger checkpoint, so removing it is detected.
	LedgerCheckpoint string `json:"ledgerCheckpoint,omitempty"`
}

// Gate is one gate's outcome as recorded in provenance.
type Gate struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

// ResourceDescriptor is an SLSA resource: the source commit.
type ResourceDescriptor struct {
	URI    string            `json:"uri,omitempty"`
	Digest map[string]string `json:"digest,omitempty"`
}

// RunDetails say who built it and when.
type RunDetails struct {
	Builder  Builder  `json:"builder"`
	Metadata Metadata `json:"metadata"`
}

// Builder is the Jenkins build that ran the gates.
type Builder struct {
	ID string `json:"id"`
}

// Metadata carries the trace id and the build's start and finish.
type Metadata struct {
	InvocationID string     `json:"invocationID"`
	StartedOn    *time.Time `json:"startedOn,omitempty"`
	FinishedOn   *time.Time `json:"finishedOn,omitempty"`
}

// Build describes one build for provenance.
type Build struct {
	BuilderID        string // the Jenkins build URL
	Repository       string // git URL
	Commit           string // full git commit id
	Branch           string
	Module           string
	GoVersion        string
	GOOS             string
	GOARCH           string
	Gates            []Gate
	StartedOn        time.Time
	FinishedOn       time.Time
	TraceID          string
	LedgerCheckpoint string // set when a ledger checkpoint of this predicate type is attached too
}

// Provenance returns the SLSA v1 statement for subjects built by b.
func Provenance(subjects []Subject, b Build) (Statement[SLSA], error) {
	switch {
	case len(subjects) == 0:
		return Statement[SLSA]{}, result.Errorf(result.ClassInput, "provenance needs at least one subject: pass --image or --blob")
	case strings.TrimSpace(b.BuilderID) == "":
		return Statement[SLSA]{}, result.Errorf(result.ClassInput, "provenance needs the builder id: pass --builder-id (the Jenkins BUILD_URL)")
	case b.Repository == "" || b.Branch == "":
		return Statement[SLSA]{}, result.Errorf(result.ClassInput, "provenance needs --repo and --branch")
	case !isHex(b.Commit) || len(b.Commit) < 7:
		return Statement[SLSA]{}, result.Errorf(result.ClassInput, "provenance --commit %q is not a git commit id (hex)", b.Commit)
	case b.TraceID == "":
		return Statement[SLSA]{}, result.Errorf(result.ClassInput, "provenance needs a trace id")
	}
	p := SLSA{
		BuildDefinition: BuildDefinition{
			BuildType:            BuildType,
			ExternalParameters:   ExternalParameters{Repository: b.Repository, Branch: b.Branch, Module: b.Module},
			InternalParameters:   InternalParameters{GoVersion: b.GoVersion, GOOS: b.GOOS, GOARCH: b.GOARCH, Gates: b.Gates, LedgerCheckpoint: b.LedgerCheckpoint},
			ResolvedDependencies: []ResourceDescriptor{{URI: "git+" + b.Repository + "@refs/heads/" + b.Branch, Digest: map[string]string{"gitCommit": b.Commit}}},
		},
		RunDetails: RunDetails{Builder: Builder{ID: b.BuilderID}, Metadata: Metadata{InvocationID: b.TraceID}},
	}
	if !b.StartedOn.IsZero() {
		t := b.StartedOn.UTC()
		p.RunDetails.Metadata.StartedOn = &t
	}
	if !b.FinishedOn.IsZero() {
		t := b.FinishedOn.UTC()
		p.RunDetails.Metadata.FinishedOn = &t
	}
	return Statement[SLSA]{Type: StatementType, Subject: subjects, PredicateType: SLSAPredicateType, Predicate: p}, nil
}

// Approval is the approval predicate: who approved a release for which environment, when, under which rule.
type Approval struct {
	Environment    string          `json:"environment"`
	Decision       string          `json:"decision"` // "approved"
	Approvers      []Approver      `json:"approvers"`
	Rule           Rule            `json:"rule"`
	BuildURL       string          `json:"buildURL,omitempty"`
	TraceID        string          `json:"traceID"`
	RelayKeyID     string          `json:"relayKeyId,omitempty"`     // key id of the relay key that signed DecisionRecord
	DecisionRecord json.RawMessage `json:"decisionRecord,omitempty"` // the relay-signed decision record (DSSE envelope), verbatim
}

// Approver is one person's approval.
type Approver struct {
	User string    `json:"user"`
	At   time.Time `json:"at"`
}

// Rule is the approval rule the decision was made under.
type Rule struct {
	Name         string `json:"name"`
	MinApprovals int    `json:"minApprovals"`
	FourEyes     bool   `json:"fourEyes,omitempty"` // the requester may not approve
}

// ApprovalStatement returns the approval statement for subjects.
func ApprovalStatement(subjects []Subject, a Approval) (Statement[Approval], error) {
	switch {
	case len(subjects) == 0:
		return Statement[Approval]{}, result.Errorf(result.ClassInput, "approval attestation needs at least one subject: pass --image or --blob")
	case a.Environment == "":
		return Statement[Approval]{}, result.Errorf(result.ClassInput, "approval attestation needs --environment")
	case len(a.Approvers) == 0:
		return Statement[Approval]{}, result.Errorf(result.ClassInput, "approval attestation needs at least one --approver user[@time]")
	case a.TraceID == "":
		return Statement[Approval]{}, result.Errorf(result.ClassInput, "approval attestation needs a trace id")
	}
	if a.Decision == "" {
		a.Decision = "approved"
	}
	if a.Rule.MinApprovals <= 0 {
		a.Rule.MinApprovals = 1
	}
	return Statement[Approval]{Type: StatementType, Subject: subjects, PredicateType: ApprovalPredicateType, Predicate: a}, nil
}

// SubjectOf names an artifact by a "sha256:<hex>" digest.
func SubjectOf(name, digest string) (Subject, error) {
	alg, hexd, ok := strings.Cut(digest, ":")
	if !ok || alg != "sha256" || len(hexd) != 64 || !isHex(hexd) {
		return Subject{}, result.Errorf(result.ClassInput, "digest %q of %s is not sha256:<64 hex>", digest, name)
	}
	return Subject{Name: name, Digest: map[string]string{"sha256": hexd}}, nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && s != ""
}
