package jenkins

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"time"
)

// Submission is one input answer the stand-in accepted.
type Submission struct {
	Build   string            // build path, e.g. /job/payments/7
	InputID string            // capitalised id as it appeared in the URL
	Action  string            // submit, proceedEmpty or abort
	Proceed string            // the proceed form value (submit only)
	Params  map[string]string // submitted parameters (submit only)
	At      time.Time
}

// StandIn is an in-process Jenkins that serves exactly the input-step endpoints the relay calls.
// It checks method, path (capitalised id), basic auth and, when RequireCrumb is set, the crumb.
type StandIn struct {
	User, Token string
	// RequireCrumb makes POSTs without the crumb header fail with 403 "No valid crumb", as Jenkins does for
	// session (non-API-token) auth.
	RequireCrumb bool
	// AutoInputs treats every input id under any build as pending until first answered (for load tests).
	AutoInputs bool
	// OnDecision, if set, is called after each accepted answer.
	OnDecision func(Submission)

	mu        sync.Mutex
	pending   map[string]bool     // build + "\x00" + Id
	declared  map[string][]string // parameter names an input declares; nil accepts any
	decided   map[string]bool
	subs      []Submission
	failNext  int
	rejected  int
	crumb     string
	crumbHits int
}

// NewStandIn returns a stand-in that accepts user/token.
func NewStandIn(user, token string) *StandIn {
	return &StandIn{User: user, Token: token, pending: map[string]bool{}, decided: map[string]bool{}, declared: map[string][]string{}, crumb: "crumb-0f1e2d"}
}

// AddInput registers a waiting input; buildPath is like /job/payments/7 and id is capitalised as Jenkins does.
// When params are given, a submission naming any other parameter fails as Jenkins fails it
// ("No such parameter definition").
func (s *StandIn) AddInput(buildPath, inputID string, params ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := buildPath + "\x00" + Capitalize(inputID)
	s.pending[key] = true
	if len(params) > 0 {
		s.declared[key] = params
	}
}

// FailNext makes the next n input POSTs answer 503, as an overloaded or restarting Jenkins would.
func (s *StandIn) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// Submissions returns the answers accepted so far.
func (s *StandIn) Submissions() []Submission {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Submission(nil), s.subs...)
}

// Refused counts requests refused for auth, crumb, method or form errors.
func (s *StandIn) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected
}

// CrumbRequests counts crumb issuer calls.
func (s *StandIn) CrumbRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.crumbHits
}

var inputPath = regexp.MustCompile(`^(/(?:[^/]+/)*?job/[^/]+(?:/job/[^/]+)*/[0-9]+)/input/([^/]+)/(submit|proceedEmpty|abort)/?$`)

// ServeHTTP implements the Jenkins endpoints.
func (s *StandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.authOK(r) {
		s.refuse(w, http.StatusUnauthorized, "Invalid password/token for user")
		return
	}
	if r.URL.Path == "/crumbIssuer/api/json" {
		if r.Method != http.MethodGet {
			s.refuse(w, http.StatusMethodNotAllowed, "GET only")
			return
		}
		s.mu.Lock()
		s.crumbHits++
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"_class": "hudson.security.csrf.DefaultCrumbIssuer", "crumbRequestField": "Jenkins-Crumb", "crumb": s.crumb})
		return
	}
	m := inputPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		s.refuse(w, http.StatusMethodNotAllowed, "POST required")
		return
	}
	if s.RequireCrumb && r.Header.Get("Jenkins-Crumb") != s.crumb {
		s.refuse(w, http.StatusForbidden, "No valid crumb was included in the request")
		return
	}
	sub := Submission{Build: m[1], InputID: m[2], Action: m[3]}
	if sub.Action == "submit" {
		if err := r.ParseForm(); err != nil {
			s.refuse(w, http.StatusBadRequest, "bad form")
			return
		}
		sub.Proceed = r.PostForm.Get("proceed")
		var body struct {
			Parameter []Param `json:"parameter"`
		}
		if err := json.Unmarshal([]byte(r.PostForm.Get("json")), &body); err != nil {
			s.refuse(w, http.StatusBadRequest, "json form field missing or invalid")
			return
		}
		if sub.Proceed == "" {
			// Without proceed, Jenkins' doSubmit aborts; the relay must always send it.
			s.refuse(w, http.StatusBadRequest, "proceed form field missing")
			return
		}
		sub.Params = map[string]string{}
		for _, p := range body.Parameter {
			sub.Params[p.Name] = p.Value
		}
	}
	key := sub.Build + "\x00" + sub.InputID
	s.mu.Lock()
	if s.failNext > 0 {
		s.failNext--
		s.mu.Unlock()
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	waiting := s.pending[key] || (s.AutoInputs && !s.decided[key])
	if !waiting {
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	if decl := s.declared[key]; decl != nil {
		for name := range sub.Params {
			if !slices.Contains(decl, name) {
				s.rejected++
				s.mu.Unlock()
				http.Error(w, "java.lang.IllegalArgumentException: No such parameter definition: "+name, http.StatusInternalServerError)
				return
			}
		}
	}
	delete(s.pending, key)
	s.decided[key] = true
	sub.At = time.Now()
	s.subs = append(s.subs, sub)
	hook := s.OnDecision
	s.mu.Unlock()
	if hook != nil {
		hook(sub)
	}
	// Jenkins answers a form POST with a redirect back to the build.
	w.Header().Set("Location", sub.Build+"/")
	w.WriteHeader(http.StatusFound)
}

func (s *StandIn) authOK(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	return ok && subtle.ConstantTimeCompare([]byte(u), []byte(s.User)) == 1 && subtle.ConstantTimeCompare([]byte(p), []byte(s.Token)) == 1
}

func (s *StandIn) refuse(w http.ResponseWriter, code int, msg string) {
	s.mu.Lock()
	s.rejected++
	s.mu.Unlock()
	http.Error(w, fmt.Sprintf("HTTP ERROR %d %s", code, msg), code)
}
