package rbac

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// SupportedVersion is the only rbac.yaml schema version this build reads.
const SupportedVersion = 1

// ErrNoRule means no approval rule covers a service and environment.
var ErrNoRule = errors.New("no approval rule matches")

// Config is a parsed rbac.yaml.
type Config struct {
	Version int `yaml:"version"`
	// Users maps Slack user ids to Jenkins user ids.
	Users map[string]string `yaml:"users"`
	// Groups maps Slack user group (subteam) ids to member Slack user ids.
	Groups map[string][]string `yaml:"groups"`
	// Identities maps commit author emails to Slack user ids, to find the requester of an SCM-triggered build.
	Identities map[string]string `yaml:"identities,omitempty"`
	Roles      []Role            `yaml:"roles"`
	Approvals  []Rule            `yaml:"approvals"`
}

// Role is a Role Strategy role: global when Global is set, else an item role over Pattern.
type Role struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description,omitempty"`
	Global      bool     `yaml:"global,omitempty"`
	Pattern     string   `yaml:"pattern,omitempty"`
	Permissions []string `yaml:"permissions"`
	Members     Members  `yaml:"members"`
}

// Members are the Jenkins users and groups a role is assigned to.
type Members struct {
	Users  []string `yaml:"users,omitempty"`
	Groups []string `yaml:"groups,omitempty"`
}

// Rule is an approval rule for services matching Service in environments matching Environment.
type Rule struct {
	Service     string `yaml:"service"`
	Environment string `yaml:"environment"`
	// Approvers are Slack user ids (U..., W...) or user group ids (S...).
	Approvers         []string `yaml:"approvers"`
	Required          int      `yaml:"required"`
	AllowSelfApproval bool     `yaml:"allowSelfApproval"`
	// Branches are regexes a release branch must fully match; empty allows any branch.
	Branches []string `yaml:"branches,omitempty"`
	// EscalationGroup is the Slack user group mentioned when an approval waits too long.
	EscalationGroup string `yaml:"escalationGroup,omitempty"`
	// EscalateAfter is how long the relay waits before mentioning EscalationGroup (Go duration, optional).
	EscalateAfter string `yaml:"escalateAfter,omitempty"`
	// MaxTimeout caps how long a request may wait (Go duration; default 24h).
	MaxTimeout string `yaml:"maxTimeout,omitempty"`
	// Channel is the Slack channel id (C...) the relay posts to; empty takes the pipeline's channel.
	Channel string `yaml:"channel,omitempty"`

	escalateAfter, maxTimeout time.Duration
	service, environment      *regexp.Regexp
	branches                  []*regexp.Regexp
	approverIDs               []string // Approvers expanded to sorted Slack user ids
}

var permRE = regexp.MustCompile(`^[A-Z][A-Za-z]*/[A-Z][A-Za-z]*$`)

// Slack id forms (api.slack.com/docs/conversations, /types/user, /types/usergroup): upper-case letters and
// digits after a type prefix: U or W for users, S for user groups, C for channels.
var (
	userIDRE    = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	groupIDRE   = regexp.MustCompile(`^S[A-Z0-9]{2,}$`)
	channelIDRE = regexp.MustCompile(`^C[A-Z0-9]{2,}$`)
)

// IsUserID reports whether s is a Slack user id (U... or W..., upper case).
func IsUserID(s string) bool { return userIDRE.MatchString(s) }

// IsChannelID reports whether s is a Slack channel id (C..., upper case).
func IsChannelID(s string) bool { return channelIDRE.MatchString(s) }

// DefaultMaxTimeout is a rule's maxTimeout when rbac.yaml sets none.
const DefaultMaxTimeout = 24 * time.Hour

// Load reads and validates an rbac.yaml file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading rbac file: %w", err)
	}
	cfg, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes and validates rbac.yaml content; unknown keys are errors.
func Parse(b []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("rbac file is empty")
		}
		return nil, fmt.Errorf("parsing rbac yaml: %s", oneLine(err.Error()))
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func anchored(expr string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + expr + `)$`)
}

func (c *Config) validate() error {
	if c.Version != SupportedVersion {
		return fmt.Errorf("rbac version %d is not supported: set `version: %d`", c.Version, SupportedVersion)
	}
	seen := map[string]bool{}
	for i, r := range c.Roles {
		where := fmt.Sprintf("roles[%d] %q", i, r.Name)
		if r.Name == "" || seen[r.Name] {
			return fmt.Errorf("%s: every role needs a unique name", where)
		}
		seen[r.Name] = true
		if r.Global == (r.Pattern != "") {
			return fmt.Errorf("%s: set either `global: true` or an item `pattern`, not both or neither", where)
		}
		if r.Pattern != "" {
			if _, err := anchored(r.Pattern); err != nil {
				return fmt.Errorf("%s: pattern: %w", where, err)
			}
		}
		if len(r.Permissions) == 0 {
			return fmt.Errorf("%s: list at least one permission like Job/Build", where)
		}
		for _, p := range r.Permissions {
			if !permRE.MatchString(p) {
				return fmt.Errorf("%s: permission %q is not of the form Group/Name (e.g. Job/Build)", where, p)
			}
		}
		if len(r.Members.Users)+len(r.Members.Groups) == 0 {
			return fmt.Errorf("%s: assign the role to at least one user or group", where)
		}
	}
	for u := range c.Users {
		if !userIDRE.MatchString(u) {
			return fmt.Errorf("users.%s: %q is not a Slack user id (U or W, then upper-case letters and digits, e.g. U01ALICE)", u, u)
		}
	}
	for g, members := range c.Groups {
		if !groupIDRE.MatchString(g) || len(members) == 0 {
			return fmt.Errorf("groups.%s: user group ids are S followed by upper-case letters and digits (e.g. S01RELEASE), and need members", g)
		}
		for _, m := range members {
			if !userIDRE.MatchString(m) {
				return fmt.Errorf("groups.%s: member %q is not a Slack user id (U or W, upper case)", g, m)
			}
		}
	}
	for email, u := range c.Identities {
		if !strings.Contains(email, "@") || !userIDRE.MatchString(u) {
			return fmt.Errorf("identities.%s: map a commit author email to a Slack user id (U or W, upper case); got %q", email, u)
		}
	}
	if len(c.Approvals) == 0 {
		return errors.New("approvals: define at least one approval rule")
	}
	for i := range c.Approvals {
		r := &c.Approvals[i]
		where := fmt.Sprintf("approvals[%d] (%s × %s)", i, r.Service, r.Environment)
		var err error
		if r.Service == "" || r.Environment == "" {
			return fmt.Errorf("%s: service and environment patterns are required", where)
		}
		if r.service, err = anchored(r.Service); err != nil {
			return fmt.Errorf("%s: service: %w", where, err)
		}
		if r.environment, err = anchored(r.Environment); err != nil {
			return fmt.Errorf("%s: environment: %w", where, err)
		}
		r.branches = nil
		for _, b := range r.Branches {
			re, err := anchored(b)
			if err != nil {
				return fmt.Errorf("%s: branch: %w", where, err)
			}
			r.branches = append(r.branches, re)
		}
		if r.Required < 1 {
			return fmt.Errorf("%s: required approvals must be at least 1", where)
		}
		people, err := c.expand(r.Approvers)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		r.approverIDs = people
		if len(people) < r.Required {
			return fmt.Errorf("%s: %d approvals required but only %d approvers listed", where, r.Required, len(people))
		}
		for _, u := range people {
			if c.Users[u] == "" {
				return fmt.Errorf("%s: approver %s has no Jenkins user: add it under `users`", where, u)
			}
		}
		if r.EscalationGroup != "" && !groupIDRE.MatchString(r.EscalationGroup) {
			return fmt.Errorf("%s: escalationGroup must be a Slack user group id (S followed by upper-case letters and digits)", where)
		}
		if r.Channel != "" && !channelIDRE.MatchString(r.Channel) {
			return fmt.Errorf("%s: channel must be a Slack channel id (C followed by upper-case letters and digits)", where)
		}
		r.maxTimeout = DefaultMaxTimeout
		if r.MaxTimeout != "" {
			if r.maxTimeout, err = time.ParseDuration(r.MaxTimeout); err != nil || r.maxTimeout <= 0 {
				return fmt.Errorf("%s: maxTimeout %q is not a duration like 24h", where, r.MaxTimeout)
			}
		}
		r.escalateAfter = 0
		if r.EscalateAfter != "" {
			if r.escalateAfter, err = time.ParseDuration(r.EscalateAfter); err != nil || r.escalateAfter <= 0 || r.escalateAfter >= r.maxTimeout {
				return fmt.Errorf("%s: escalateAfter %q must be a duration shorter than maxTimeout", where, r.EscalateAfter)
			}
			if r.EscalationGroup == "" {
				return fmt.Errorf("%s: escalateAfter needs an escalationGroup to mention", where)
			}
		}
	}
	return nil
}

// expand turns approver entries into sorted distinct Slack user ids.
func (c *Config) expand(entries []string) ([]string, error) {
	set := map[string]bool{}
	for _, e := range entries {
		if !userIDRE.MatchString(e) && !groupIDRE.MatchString(e) {
			return nil, fmt.Errorf("approver %q is not a Slack user id (U/W...) or user group id (S...), upper case", e)
		}
		if strings.HasPrefix(e, "S") {
			members, ok := c.Groups[e]
			if !ok {
				return nil, fmt.Errorf("approver group %s is not defined under `groups`", e)
			}
			for _, m := range members {
				set[m] = true
			}
			continue
		}
		if e == "" {
			return nil, errors.New("empty approver entry")
		}
		set[e] = true
	}
	out := make([]string, 0, len(set))
	for u := range set {
		out = append(out, u)
	}
	sort.Strings(out)
	return out, nil
}

// Rule returns the first approval rule matching service and environment.
func (c *Config) Rule(service, environment string) (*Rule, error) {
	for i := range c.Approvals {
		r := &c.Approvals[i]
		if r.service.MatchString(service) && r.environment.MatchString(environment) {
			return r, nil
		}
	}
	return nil, fmt.Errorf("%w %s in %s: add one to rbac.yaml", ErrNoRule, service, environment)
}

// ApproverIDs returns the rule's approvers as distinct Slack user ids.
func (c *Config) ApproverIDs(r *Rule) []string {
	return append([]string(nil), r.approverIDs...)
}

// MaxTimeoutOf returns the longest wait r allows.
func (r *Rule) MaxTimeoutOf() time.Duration { return r.maxTimeout }

// EscalateAfterOf returns r's escalation delay, or 0.
func (r *Rule) EscalateAfterOf() time.Duration { return r.escalateAfter }

// SlackUser returns the Slack user id mapped to a Jenkins user id, or "".
func (c *Config) SlackUser(jenkinsUser string) string {
	ids := make([]string, 0, 1)
	for s, j := range c.Users {
		if j == jenkinsUser {
			ids = append(ids, s)
		}
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// Identity returns the Slack user id of a commit author email, or "".
func (c *Config) Identity(email string) string { return c.Identities[strings.ToLower(email)] }

// JenkinsUser returns the Jenkins user id mapped to a Slack user id, or "".
func (c *Config) JenkinsUser(slackID string) string { return c.Users[slackID] }

// BranchAllowed reports whether branch may be released under r.
func (r *Rule) BranchAllowed(branch string) bool {
	if len(r.branches) == 0 {
		return true
	}
	for _, re := range r.branches {
		if re.MatchString(branch) {
			return true
		}
	}
	return false
}

// Request is one would-be approval to check.
type Request struct {
	User        string
	Service     string
	Environment string
	Branch      string
	Requester   string
}

// Decision explains whether a request is allowed and why.
type Decision struct {
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason"`
	Rule    string `json:"rule,omitempty"`
}

// Check applies the matching rule: approver membership, four eyes and the branch filter.
func (c *Config) Check(req Request) Decision {
	r, err := c.Rule(req.Service, req.Environment)
	if err != nil {
		return Decision{Reason: err.Error()}
	}
	d := Decision{Rule: r.Service + " × " + r.Environment}
	switch {
	case !contains(r.approverIDs, req.User):
		d.Reason = fmt.Sprintf("%s is not an approver for %s in %s", req.User, req.Service, req.Environment)
	case req.Requester != "" && req.User == req.Requester && !r.AllowSelfApproval:
		d.Reason = fmt.Sprintf("%s requested this release and may not approve it (four-eyes rule)", req.User)
	case !r.BranchAllowed(req.Branch):
		d.Reason = fmt.Sprintf("branch %q may not be released to %s (allowed: %s)", req.Branch, req.Environment, strings.Join(r.Branches, ", "))
	default:
		d.Allowed = true
		d.Reason = fmt.Sprintf("%s may approve %s in %s", req.User, req.Service, req.Environment)
	}
	return d
}

func contains(list []string, s string) bool {
	i := sort.SearchStrings(list, s)
	return i < len(list) && list[i] == s
}

// oneLine folds yaml.v3's multi-line error lists into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "unmarshal errors:", "")), " ")
}
