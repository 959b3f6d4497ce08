package jenkinsfake

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Cause classes as Jenkins reports them in api/json.
const (
	CauseUser = "hudson.model.Cause$UserIdCause"
	CauseSCM  = "hudson.triggers.SCMTrigger$SCMTriggerCause"
)

// Input is one input step as the pipeline declares it.
type Input struct {
	ID, Message, Ok string
	// Submitter is the comma-separated list of accounts allowed to answer ("" allows anyone, as in Jenkins).
	Submitter string
	// Params are the declared parameter names (string parameters).
	Params []string
}

// Submission is one input answer the fake accepted.
type Submission struct {
	Build   string            `json:"build"`
	InputID string            `json:"inputId"`
	Action  string            `json:"action"`
	User    string            `json:"user"`
	Proceed string            `json:"proceed,omitempty"`
	Params  map[string]string `json:"params,omitempty"`
	At      time.Time         `json:"at"`
}

type build struct {
	running bool
	cause   string
	userID  string
	authors []string // commit author emails (SCM cause)
	inputs  map[string]*Input
	armed   map[string]bool // input id -> pending
}

// Server is the fake Jenkins; the zero value is not usable, call New.
type Server struct {
	// User and APIToken authenticate without a crumb; Password authenticates only with a crumb.
	User, APIToken, Password string
	// ReArmDelay is how long Arm takes before the input is pending (the pipeline's re-arm gap).
	ReArmDelay time.Duration

	mu         sync.Mutex
	builds     map[string]*build
	subs       []Submission
	notPending int
	refused    int
	failNext   int
	crumb      string
	crumbHits  int
	changed    chan struct{}
}

// New returns a fake that accepts user with an API token.
func New(user, apiToken string) *Server {
	return &Server{User: user, APIToken: apiToken, builds: map[string]*build{}, crumb: "crumb-5eed", changed: make(chan struct{})}
}

// Capitalize upper-cases the first letter, as InputStep.setId does.
func Capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// StartBuild marks path (e.g. /job/orders/7) as a running build started by a Jenkins user.
func (s *Server) StartBuild(path, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.builds[path] = &build{running: true, cause: CauseUser, userID: userID, inputs: map[string]*Input{}, armed: map[string]bool{}}
}

// StartSCMBuild marks path as a running build triggered by SCM with these commit author emails.
func (s *Server) StartSCMBuild(path string, authors ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.builds[path] = &build{running: true, cause: CauseSCM, authors: authors, inputs: map[string]*Input{}, armed: map[string]bool{}}
}

// FinishBuild ends the build: every pending input goes away.
func (s *Server) FinishBuild(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.builds[path]; b != nil {
		b.running = false
		b.armed = map[string]bool{}
		s.notify()
	}
}

// Arm makes the pipeline reach input in after ReArmDelay; it returns at once.
func (s *Server) Arm(path string, in Input) {
	in.ID = Capitalize(in.ID)
	if in.Ok == "" {
		in.Ok = "Proceed"
	}
	arm := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		b := s.builds[path]
		if b == nil || !b.running {
			return
		}
		cp := in
		b.inputs[in.ID] = &cp
		b.armed[in.ID] = true
		s.notify()
	}
	if s.ReArmDelay <= 0 {
		arm()
		return
	}
	time.AfterFunc(s.ReArmDelay, arm)
}

// Pending returns the ids pending on path.
func (s *Server) Pending(path string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if b := s.builds[path]; b != nil {
		for id, ok := range b.armed {
			if ok {
				out = append(out, id)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Submissions returns the answers accepted so far.
func (s *Server) Submissions() []Submission {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.subs)
}

// NotPendingPosts counts input POSTs that named an input that was not pending (Jenkins answered them 404).
func (s *Server) NotPendingPosts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notPending
}

// Refused counts requests refused for auth, crumb, submitter, method or form errors.
func (s *Server) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// CrumbRequests counts crumb issuer calls.
func (s *Server) CrumbRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.crumbHits
}

// FailNext makes the next n requests answer 503, as a restarting Jenkins does.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// WaitSubmission blocks until input id of path was answered and returns the answer.
func (s *Server) WaitSubmission(ctx context.Context, path, id string) (Submission, error) {
	id = Capitalize(id)
	for {
		s.mu.Lock()
		for _, sub := range s.subs {
			if sub.Build == path && sub.InputID == id {
				s.mu.Unlock()
				return sub, nil
			}
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return Submission{}, fmt.Errorf("waiting for an answer to %s on %s: %w", id, path, ctx.Err())
		case <-ch:
		}
	}
}

var (
	inputPath = regexp.MustCompile(`^(.*/job/[^/]+/[0-9]+)/input/([^/]+)/(submit|proceedEmpty|abort)/?$`)
	wfapiPath = regexp.MustCompile(`^(.*/job/[^/]+/[0-9]+)/wfapi/pendingInputActions/?$`)
	apiPath   = regexp.MustCompile(`^(.*/job/[^/]+/[0-9]+)/api/json/?$`)
)

// ServeHTTP serves the Jenkins endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.failNext > 0 {
		s.failNext--
		s.mu.Unlock()
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	s.mu.Unlock()
	user, viaToken, ok := s.auth(r)
	if !ok {
		s.refuse(w, http.StatusUnauthorized, "Invalid password/token for user")
		return
	}
	p := r.URL.EscapedPath()
	switch {
	case p == "/crumbIssuer/api/json":
		if r.Method != http.MethodGet {
			s.refuse(w, http.StatusMethodNotAllowed, "GET only")
			return
		}
		s.mu.Lock()
		s.crumbHits++
		s.mu.Unlock()
		writeJSON(w, map[string]string{"_class": "hudson.security.csrf.DefaultCrumbIssuer", "crumbRequestField": "Jenkins-Crumb", "crumb": s.crumb})
	case p == "/api/json" && r.Method == http.MethodGet:
		writeJSON(w, map[string]any{"_class": "hudson.model.Hudson", "mode": "NORMAL", "useCrumbs": true})
	case apiPath.MatchString(p) && r.Method == http.MethodGet:
		s.serveBuild(w, apiPath.FindStringSubmatch(p)[1])
	case wfapiPath.MatchString(p) && r.Method == http.MethodGet:
		s.servePending(w, wfapiPath.FindStringSubmatch(p)[1])
	case inputPath.MatchString(p):
		if r.Method != http.MethodPost {
			s.refuse(w, http.StatusMethodNotAllowed, "POST required") // @RequirePOST
			return
		}
		if !viaToken && r.Header.Get("Jenkins-Crumb") != s.crumb {
			s.refuse(w, http.StatusForbidden, "No valid crumb was included in the request")
			return
		}
		m := inputPath.FindStringSubmatch(p)
		s.serveInput(w, r, user, m[1], m[2], m[3])
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) serveBuild(w http.ResponseWriter, path string) {
	s.mu.Lock()
	b := s.builds[path]
	if b == nil {
		s.mu.Unlock()
		http.NotFound(w, nil)
		return
	}
	cause := map[string]any{"_class": b.cause}
	if b.cause == CauseUser {
		cause["userId"], cause["userName"], cause["shortDescription"] = b.userID, b.userID, "Started by user "+b.userID
	} else {
		cause["shortDescription"] = "Started by an SCM change"
	}
	var items []map[string]any
	for i, a := range b.authors {
		items = append(items, map[string]any{"commitId": fmt.Sprintf("%040d", i), "authorEmail": a, "author": map[string]string{"fullName": a}})
	}
	out := map[string]any{
		"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "building": b.running, "url": path + "/",
		"actions":    []any{map[string]any{"_class": "hudson.model.CauseAction", "causes": []any{cause}}},
		"changeSets": []any{map[string]any{"_class": "hudson.plugins.git.GitChangeSetList", "items": items}},
	}
	if !b.running {
		out["result"] = "SUCCESS"
	}
	s.mu.Unlock()
	writeJSON(w, out)
}

func (s *Server) servePending(w http.ResponseWriter, path string) {
	s.mu.Lock()
	b := s.builds[path]
	if b == nil {
		s.mu.Unlock()
		http.NotFound(w, nil)
		return
	}
	list := []map[string]any{}
	for id, pending := range b.armed {
		if !pending {
			continue
		}
		in := b.inputs[id]
		var defs []map[string]any
		for _, name := range in.Params {
			defs = append(defs, map[string]any{"type": "StringParameterDefinition", "name": name, "description": "", "definition": map[string]string{"defaultVal": ""}})
		}
		list = append(list, map[string]any{"id": id, "proceedText": in.Ok, "message": in.Message, "inputs": defs,
			"proceedUrl": path + "/wfapi/inputSubmit?inputId=" + id, "abortUrl": path + "/input/" + id + "/abort", "redirectApprovalUrl": path + "/input/"})
	}
	s.mu.Unlock()
	slices.SortFunc(list, func(a, b map[string]any) int { return strings.Compare(a["id"].(string), b["id"].(string)) })
	writeJSON(w, list)
}

func (s *Server) serveInput(w http.ResponseWriter, r *http.Request, user, path, id, action string) {
	sub := Submission{Build: path, InputID: id, Action: action, User: user}
	if action == "submit" {
		if err := r.ParseForm(); err != nil {
			s.refuse(w, http.StatusBadRequest, "bad form")
			return
		}
		sub.Proceed = r.PostForm.Get("proceed")
		var body struct {
			Parameter []struct{ Name, Value string } `json:"parameter"`
		}
		if js := r.PostForm.Get("json"); js != "" {
			if err := json.Unmarshal([]byte(js), &body); err != nil {
				s.refuse(w, http.StatusBadRequest, "json form field invalid")
				return
			}
		}
		if sub.Proceed == "" {
			sub.Action = "abort" // doSubmit without proceed aborts
		}
		sub.Params = map[string]string{}
		for _, p := range body.Parameter {
			sub.Params[p.Name] = p.Value
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.builds[path]
	if b == nil || !b.armed[id] {
		s.notPending++
		http.NotFound(w, r)
		return
	}
	in := b.inputs[id]
	if in.Submitter != "" && !slices.Contains(strings.Split(in.Submitter, ","), user) {
		s.refused++
		http.Error(w, "You need to be "+in.Submitter+" to submit this", http.StatusForbidden)
		return
	}
	if sub.Action == "submit" {
		for name := range sub.Params {
			if !slices.Contains(in.Params, name) {
				s.refused++
				http.Error(w, "java.lang.IllegalArgumentException: No such parameter definition: "+name, http.StatusInternalServerError)
				return
			}
		}
	}
	delete(b.armed, id) // postSettlement: the input is gone
	sub.At = time.Now()
	s.subs = append(s.subs, sub)
	s.notify()
	w.Header().Set("Location", path+"/")
	w.WriteHeader(http.StatusFound)
}

func (s *Server) auth(r *http.Request) (string, bool, bool) {
	u, p, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(s.User)) != 1 {
		return "", false, false
	}
	if s.APIToken != "" && subtle.ConstantTimeCompare([]byte(p), []byte(s.APIToken)) == 1 {
		return u, true, true
	}
	if s.Password != "" && subtle.ConstantTimeCompare([]byte(p), []byte(s.Password)) == 1 {
		return u, false, true
	}
	return "", false, false
}

func (s *Server) refuse(w http.ResponseWriter, code int, msg string) {
	s.mu.Lock()
	s.refused++
	s.mu.Unlock()
	http.Error(w, fmt.Sprintf("HTTP ERROR %d %s", code, msg), code)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}
