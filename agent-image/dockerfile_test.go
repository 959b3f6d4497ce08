package agentimage

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// makefile is what the Dockerfile must agree with: the helper list, the module path and the release ldflags.
type makefile struct {
	module  string
	helpers []string
	ldflags []string // tokens of LDFLAGS with $(X) rewritten to ${X}
}

var makeVarRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

func readMakefile(t *testing.T) makefile {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "Makefile"))
	if err != nil {
		t.Fatalf("reading the Makefile: %v", err)
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":=")
		name = strings.TrimSpace(strings.TrimPrefix(name, "export "))
		if ok && name != "" && !strings.ContainsAny(name, " \t#") {
			vars[name] = strings.TrimSpace(value)
		}
	}
	m := makefile{module: vars["MODULE"], helpers: strings.Fields(vars["HELPERS"])}
	for _, tok := range strings.Fields(vars["LDFLAGS"]) {
		m.ldflags = append(m.ldflags, makeVarRef.ReplaceAllString(tok, "$${$1}"))
	}
	if m.module == "" || len(m.helpers) == 0 || len(m.ldflags) == 0 {
		t.Fatalf("the Makefile lost MODULE, HELPERS or LDFLAGS (got %+v)", m)
	}
	return m
}

// dockerfile is a Dockerfile as BuildKit parses it, with its global ARG defaults.
type dockerfile struct {
	stages   []instructions.Stage
	metaArgs env
	lints    []string
}

// env resolves ${X} the way BuildKit does; a name without a default is absent.
type env map[string]string

func (e env) Get(k string) (string, bool) { v, ok := e[k]; return v, ok }

func (e env) Keys() []string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func parseDockerfile(t *testing.T, file string) *dockerfile {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("parsing %s: %v", file, err)
	}
	d := &dockerfile{metaArgs: env{}}
	for _, w := range res.Warnings {
		d.lints = append(d.lints, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		d.lints = append(d.lints, fmt.Sprintf("%s: %s (line %d)", rule, msg, loc[0].Start.Line))
	}})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("parsing %s: %v", file, err)
	}
	d.stages = stages
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Value != nil {
				d.metaArgs[kv.Key] = *kv.Value
			}
		}
	}
	return d
}

// expand resolves ${X} in word, refusing names that have no value.
func expand(word string, e env) (string, error) {
	res, err := shell.NewLex('\\').ProcessWordWithMatches(word, e)
	if err != nil {
		return "", err
	}
	if len(res.Unmatched) > 0 {
		return "", fmt.Errorf("%q uses %s, which has no default", word, strings.Join(slices.Sorted(mapKeys(res.Unmatched)), ", "))
	}
	return res.Result, nil
}

func mapKeys(m map[string]struct{}) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// stageEnv is what ${X} means just before command i of st: its ARGs (inheriting global defaults) and ENVs.
func (d *dockerfile) stageEnv(st instructions.Stage, upTo int) env {
	e := env{}
	for _, cmd := range st.Commands[:upTo] {
		switch c := cmd.(type) {
		case *instructions.ArgCommand:
			for _, kv := range c.Args {
				if kv.Value != nil {
					e[kv.Key] = *kv.Value
				} else if v, ok := d.metaArgs[kv.Key]; ok {
					e[kv.Key] = v
				}
			}
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				if v, err := expand(kv.Value, e); err == nil {
					e[kv.Key] = v
				}
			}
		}
	}
	return e
}

func (d *dockerfile) final() instructions.Stage { return d.stages[len(d.stages)-1] }

func (d *dockerfile) stageIndex(name string) int {
	for i, st := range d.stages {
		if st.Name != "" && strings.EqualFold(st.Name, name) {
			return i
		}
	}
	return -1
}

var pinnedRef = regexp.MustCompile(`^[^@\s]+@sha256:[0-9a-f]{64}$`)

// checkPinned refuses a FROM (or COPY --from) image that is not pinned by digest once ARG defaults are applied.
func checkPinned(d *dockerfile, _ makefile) error {
	for i, st := range d.stages {
		base, err := expand(st.BaseName, d.metaArgs)
		if err != nil {
			return fmt.Errorf("FROM %s: %v", st.BaseName, err)
		}
		if base != "scratch" && !slices.ContainsFunc(d.stages[:i], func(p instructions.Stage) bool { return strings.EqualFold(p.Name, base) }) && !pinnedRef.MatchString(base) {
			return fmt.Errorf("FROM %s is not pinned by digest: use name:tag@sha256:<64 hex> (make agent-image-pin)", base)
		}
		for j, cmd := range st.Commands {
			c, ok := cmd.(*instructions.CopyCommand)
			if !ok || c.From == "" {
				continue
			}
			from, err := expand(c.From, d.stageEnv(st, j))
			if err != nil {
				return fmt.Errorf("COPY --from=%s: %v", c.From, err)
			}
			if d.stageIndex(from) < 0 && !pinnedRef.MatchString(from) {
				return fmt.Errorf("COPY --from=%s copies from an image that is not pinned by digest", from)
			}
		}
	}
	return nil
}

// checkNoRemoteAdd refuses ADD of a URL or git repository: its content is neither pinned nor reviewed.
func checkNoRemoteAdd(d *dockerfile, _ makefile) error {
	for _, st := range d.stages {
		for _, cmd := range st.Commands {
			c, ok := cmd.(*instructions.AddCommand)
			if !ok {
				continue
			}
			for _, src := range c.SourcePaths {
				if strings.Contains(src, "://") || strings.HasPrefix(src, "git@") {
					return fmt.Errorf("ADD %s fetches remote content: download it in a RUN step that checks a pinned sha256", src)
				}
			}
		}
	}
	return nil
}

// checkNonRootUser requires the final stage to end as a numeric non-zero uid, which Kubernetes' runAsNonRoot can verify.
func checkNonRootUser(d *dockerfile, _ makefile) error {
	st := d.final()
	for i := len(st.Commands) - 1; i >= 0; i-- {
		c, ok := st.Commands[i].(*instructions.UserCommand)
		if !ok {
			continue
		}
		user, err := expand(c.User, d.stageEnv(st, i))
		if err != nil {
			return fmt.Errorf("USER %s: %v", c.User, err)
		}
		uid, _, _ := strings.Cut(user, ":")
		if uid == "" || strings.Trim(uid, "0123456789") != "" {
			return fmt.Errorf("final USER %q is not a numeric uid: Kubernetes runAsNonRoot cannot verify a name", user)
		}
		if strings.TrimLeft(uid, "0") == "" {
			return fmt.Errorf("final USER %q is root", user)
		}
		return nil
	}
	return fmt.Errorf("the final stage has no USER: the agent would run as root")
}

// buildStep finds the RUN that builds the helpers.
func buildStep(d *dockerfile) (stage int, cmd int, line string, err error) {
	for i, st := range d.stages {
		for j, c := range st.Commands {
			if r, ok := c.(*instructions.RunCommand); ok && strings.Contains(strings.Join(r.CmdLine, " "), "go build") {
				return i, j, strings.Join(r.CmdLine, " "), nil
			}
		}
	}
	return 0, 0, "", fmt.Errorf("no RUN step runs go build")
}

// checkHelpersCopied requires every helper of the Makefile to be built and copied from that stage into /usr/local/bin.
func checkHelpersCopied(d *dockerfile, m makefile) error {
	si, _, line, err := buildStep(d)
	if err != nil {
		return err
	}
	for _, h := range m.helpers {
		if !strings.Contains(line, "./helpers/cmd/"+h) {
			return fmt.Errorf("go build does not build ./helpers/cmd/%s", h)
		}
	}
	st := d.final()
	copied := map[string]bool{}
	for _, cmd := range st.Commands {
		c, ok := cmd.(*instructions.CopyCommand)
		if !ok || d.stageIndex(c.From) != si || path.Clean(c.DestPath) != "/usr/local/bin" {
			continue
		}
		for _, src := range c.SourcePaths {
			copied[path.Base(src)] = true
		}
	}
	for _, h := range m.helpers {
		if !copied[h] {
			return fmt.Errorf("the final stage does not COPY %s from the build stage into /usr/local/bin/", h)
		}
	}
	return nil
}

var ldflagsArg = regexp.MustCompile(`-ldflags[= ]+(?:"([^"]*)"|'([^']*)')`)

var dollarRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// checkLDFlags requires -trimpath, CGO and exactly the Makefile's ldflags, with every ${X} they use declared in the stage.
func checkLDFlags(d *dockerfile, m makefile) error {
	si, ci, line, err := buildStep(d)
	if err != nil {
		return err
	}
	if !strings.Contains(line, "-trimpath") {
		return fmt.Errorf("go build lacks -trimpath: the helpers would embed build paths")
	}
	match := ldflagsArg.FindStringSubmatch(line)
	if match == nil {
		return fmt.Errorf("go build has no quoted -ldflags")
	}
	got := strings.Fields(match[1] + match[2])
	if !slices.Equal(got, m.ldflags) {
		return fmt.Errorf("go build -ldflags %q differ from the Makefile's LDFLAGS %q", strings.Join(got, " "), strings.Join(m.ldflags, " "))
	}
	if !slices.ContainsFunc(got, func(s string) bool { return strings.HasSuffix(s, "/helpers/internal/version.Version=${VERSION}") }) {
		return fmt.Errorf("the ldflags do not stamp version.Version=${VERSION}")
	}
	e := d.stageEnv(d.stages[si], ci)
	for _, ref := range dollarRef.FindAllStringSubmatch(strings.Join(got, " "), -1) {
		if _, ok := e[ref[1]]; !ok {
			return fmt.Errorf("the ldflags use ${%s}, but the build stage declares no ARG %s before go build: it would expand to nothing", ref[1], ref[1])
		}
	}
	if e["MODULE"] != m.module {
		return fmt.Errorf("ARG MODULE=%q differs from the Makefile's MODULE %q", e["MODULE"], m.module)
	}
	if e["CGO_ENABLED"] != "1" && !strings.Contains(line, "CGO_ENABLED=1") {
		return fmt.Errorf("the helpers are built without CGO_ENABLED=1: the PKCS#11 path needs cgo")
	}
	return nil
}

// checkGoEnvDefaults requires GOFLAGS, GOPROXY and GOSUMDB in the final image, each set from an ARG default.
func checkGoEnvDefaults(d *dockerfile, _ makefile) error {
	st := d.final()
	set := map[string]string{}
	for i, cmd := range st.Commands {
		c, ok := cmd.(*instructions.EnvCommand)
		if !ok {
			continue
		}
		e := d.stageEnv(st, i)
		for _, kv := range c.Env {
			ref := dollarRef.FindStringSubmatch(kv.Value)
			if ref == nil || ref[0] != kv.Value {
				continue
			}
			if v, ok := e[ref[1]]; ok {
				set[kv.Key] = v
			}
		}
	}
	for _, k := range []string{"GOFLAGS", "GOPROXY", "GOSUMDB"} {
		if _, ok := set[k]; !ok {
			return fmt.Errorf("the final stage does not set ENV %s=${<ARG with a default>}", k)
		}
	}
	if !slices.Contains(strings.Fields(set["GOFLAGS"]), "-mod=readonly") {
		return fmt.Errorf("GOFLAGS defaults to %q, not -mod=readonly", set["GOFLAGS"])
	}
	if set["GOSUMDB"] == "off" || set["GOSUMDB"] == "" {
		return fmt.Errorf("GOSUMDB defaults to %q: the checksum database must stay on", set["GOSUMDB"])
	}
	return nil
}

// checkOCILabels requires the version, revision and source labels on the final image, the version from ${VERSION}.
func checkOCILabels(d *dockerfile, _ makefile) error {
	labels := map[string]string{}
	for _, cmd := range d.final().Commands {
		if c, ok := cmd.(*instructions.LabelCommand); ok {
			for _, kv := range c.Labels {
				labels[kv.Key] = kv.Value
			}
		}
	}
	for _, k := range []string{"version", "revision", "source"} {
		if labels["org.opencontainers.image."+k] == "" {
			return fmt.Errorf("the final stage has no LABEL org.opencontainers.image.%s", k)
		}
	}
	if !strings.Contains(labels["org.opencontainers.image.version"], "${VERSION}") {
		return fmt.Errorf("LABEL org.opencontainers.image.version is not ${VERSION}, the library tag")
	}
	return nil
}

var secretName = regexp.MustCompile(`(?i)(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_?KEY|API_?KEY|(^|_)PIN($|_))`)

var secretFile = regexp.MustCompile(`(?i)\.(key|pem|p12|pfx|jks)$`)

// checkNoSecrets refuses ARG/ENV names that hold secrets and COPY/ADD of key files: images are not secret stores.
func checkNoSecrets(d *dockerfile, _ makefile) error {
	for k := range d.metaArgs {
		if secretName.MatchString(k) {
			return fmt.Errorf("ARG %s looks like a secret: pass secrets at run time through withCredentials", k)
		}
	}
	for _, st := range d.stages {
		for _, cmd := range st.Commands {
			var names, files []string
			switch c := cmd.(type) {
			case *instructions.ArgCommand:
				for _, kv := range c.Args {
					names = append(names, kv.Key)
				}
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					names = append(names, kv.Key)
				}
			case *instructions.CopyCommand:
				files = c.SourcePaths
			case *instructions.AddCommand:
				files = c.SourcePaths
			}
			for _, n := range names {
				if secretName.MatchString(n) {
					return fmt.Errorf("%s %s looks like a secret: pass secrets at run time through withCredentials", strings.ToUpper(cmd.Name()), n)
				}
			}
			for _, f := range files {
				if secretFile.MatchString(f) {
					return fmt.Errorf("%s %s bakes a key file into the image", strings.ToUpper(cmd.Name()), f)
				}
			}
		}
	}
	return nil
}

// checkNoLints refuses anything BuildKit's own parser warns about.
func checkNoLints(d *dockerfile, _ makefile) error {
	if len(d.lints) > 0 {
		return fmt.Errorf("buildkit lint: %s", strings.Join(d.lints, "; "))
	}
	return nil
}

// check is one property the agent Dockerfile must have.
type check struct {
	name string
	fn   func(*dockerfile, makefile) error
}

var checks = []check{
	{"every FROM is pinned by digest", checkPinned},
	{"no ADD fetches a URL", checkNoRemoteAdd},
	{"the final USER is a numeric non-root uid", checkNonRootUser},
	{"the helpers are built and copied into /usr/local/bin", checkHelpersCopied},
	{"the ldflags equal the Makefile's and carry the version", checkLDFlags},
	{"GOFLAGS, GOPROXY and GOSUMDB come from ARG defaults", checkGoEnvDefaults},
	{"the OCI version, revision and source labels are set", checkOCILabels},
	{"no secret is baked in", checkNoSecrets},
	{"buildkit raises no lint warning", checkNoLints},
}

func TestTheAgentDockerfilePassesEveryCheck(t *testing.T) {
	m := readMakefile(t)
	d := parseDockerfile(t, "Dockerfile")
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if err := c.fn(d, m); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestEachBadDockerfileFailsItsCheck(t *testing.T) {
	tests := []struct {
		file    string
		check   string
		wantErr string
	}{
		{"unpinned-from.Dockerfile", "every FROM is pinned by digest", "debian:bookworm-slim is not pinned"},
		{"unpinned-arg-default.Dockerfile", "every FROM is pinned by digest", "golang:1.26.8-bookworm is not pinned"},
		{"arg-without-default.Dockerfile", "every FROM is pinned by digest", "has no default"},
		{"tag-only-digest.Dockerfile", "every FROM is pinned by digest", "not pinned"},
		{"copy-from-unpinned-image.Dockerfile", "every FROM is pinned by digest", "COPY --from=golang:1.26.8-bookworm"},
		{"add-url.Dockerfile", "no ADD fetches a URL", "ADD https://"},
		{"root-user.Dockerfile", "the final USER is a numeric non-root uid", "is root"},
		{"named-user.Dockerfile", "the final USER is a numeric non-root uid", "not a numeric uid"},
		{"no-user.Dockerfile", "the final USER is a numeric non-root uid", "no USER"},
		{"missing-helper.Dockerfile", "the helpers are built and copied into /usr/local/bin", "slack-approval"},
		{"ldflags-without-version.Dockerfile", "the ldflags equal the Makefile's and carry the version", "differ from the Makefile"},
		{"version-arg-undeclared.Dockerfile", "the ldflags equal the Makefile's and carry the version", "declares no ARG VERSION"},
		{"no-trimpath.Dockerfile", "the ldflags equal the Makefile's and carry the version", "-trimpath"},
		{"gosumdb-off.Dockerfile", "GOFLAGS, GOPROXY and GOSUMDB come from ARG defaults", "GOSUMDB defaults to \"off\""},
		{"goflags-hardcoded.Dockerfile", "GOFLAGS, GOPROXY and GOSUMDB come from ARG defaults", "ENV GOFLAGS"},
		{"no-version-label.Dockerfile", "the OCI version, revision and source labels are set", "org.opencontainers.image.version"},
		{"secret-arg.Dockerfile", "no secret is baked in", "ARG COSIGN_PASSWORD"},
		{"copies-key.Dockerfile", "no secret is baked in", "cosign.key"},
	}
	m := readMakefile(t)
	for _, tt := range tests {
		t.Run(tt.file+" fails "+tt.check, func(t *testing.T) {
			d := parseDockerfile(t, filepath.Join("testdata", tt.file))
			i := slices.IndexFunc(checks, func(c check) bool { return c.name == tt.check })
			if i < 0 {
				t.Fatalf("no check named %q", tt.check)
			}
			err := checks[i].fn(d, m)
			if err == nil {
				t.Fatalf("%s passed %q; want an error containing %q", tt.file, tt.check, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q; want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// TestTheGoodTestdataBaselinePassesEveryCheck keeps the bad fixtures honest: each differs from a passing file in one way.
func TestTheGoodTestdataBaselinePassesEveryCheck(t *testing.T) {
	m := readMakefile(t)
	d := parseDockerfile(t, filepath.Join("testdata", "good.Dockerfile"))
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if err := c.fn(d, m); err != nil {
				t.Error(err)
			}
		})
	}
}
