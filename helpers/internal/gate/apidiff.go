package gate

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/release-gates/release-gates/helpers/internal/openapi"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/vocab"
)

// APIDiffOptions configures the API compatibility check. The base is BaseSpec (a file), or BasePath at
// BaseRef in Dir's git repository, or, when both are empty, BasePath at the newest tag matching TagPattern.
type APIDiffOptions struct {
	Dir        string // git working tree for ref/tag lookups; default "."
	Spec       string // head spec file (swag's Swagger 2.0, or OpenAPI 3), JSON or YAML
	BaseSpec   string // base spec file
	BaseRef    string // git ref holding the base spec
	BasePath   string // path of the base spec in the ref, relative to Dir; default: Spec relative to Dir
	TagPattern string // glob for release tags; default "v*"
	FailOn     string // ERR, WARN or INFO; default ERR
	AllowList  string // YAML/JSON file of accepted changes
	Git        string // git command; default "git"
	Log        *log.Logger

	// Spell names the options in errors as the caller's user writes them; nil: helper flags.
	Spell vocab.Spelling
}

// APIDiff compares the head spec with the base and rejects breaking changes at or above FailOn.
func APIDiff(ctx context.Context, opts APIDiffOptions) *Outcome {
	start := time.Now()
	o := &Outcome{Check: CheckAPIDiff}
	o.Err = apiDiff(ctx, opts, o)
	o.Duration = time.Since(start)
	return o
}

func apiDiff(ctx context.Context, opts APIDiffOptions, o *Outcome) error {
	lg := logger(opts.Log)
	if opts.Dir == "" {
		opts.Dir = "."
	}
	if opts.TagPattern == "" {
		opts.TagPattern = "v*"
	}
	if opts.FailOn == "" {
		opts.FailOn = "ERR"
	}
	if opts.Git == "" {
		opts.Git = "git"
	}
	failOn, err := openapi.ParseLevel(opts.FailOn)
	if err != nil {
		return result.Errorf(result.ClassInput, "%s: %v", vocab.Say(opts.Spell, OptFailOn, opts.FailOn), err)
	}
	if opts.Spec == "" {
		return result.Errorf(result.ClassInput, "no head spec: set %s to the swagger.json/yaml that swag generated", vocab.Say(opts.Spell, OptSpec, nil))
	}
	if opts.BaseSpec != "" && (opts.BaseRef != "" || opts.BasePath != "") {
		return result.Errorf(result.ClassInput, "%s and %s both set: choose a base file or a git ref, not both", vocab.Say(opts.Spell, OptBaseSpec, opts.BaseSpec), vocab.Say(opts.Spell, map[bool]vocab.Option{true: OptBaseRef, false: OptBasePath}[opts.BaseRef != ""], nil))
	}
	var allow openapi.AllowList
	if opts.AllowList != "" {
		b, err := os.ReadFile(opts.AllowList)
		if err != nil {
			return result.Errorf(result.ClassInput, "allow list %s: %v (%s)", opts.AllowList, pathErr(err), vocab.Say(opts.Spell, OptAllowList, nil))
		}
		if allow, err = openapi.ParseAllowList(b); err != nil {
			return result.Errorf(result.ClassInput, "allow list %s: %v (%s)", opts.AllowList, err, vocab.Say(opts.Spell, OptAllowList, nil))
		}
	}
	o.set("fail_on", strings.ToUpper(opts.FailOn))

	// Load head and base concurrently: parsing dominates the run time for big specs.
	var (
		wg               sync.WaitGroup
		head, base       *openapi3.T
		headErr, baseErr error
		headVer, baseVer string
		baseInfo         map[string]any
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer result.Recover(&headErr) // a panic while parsing is exit 4, not a crash
		head, headVer, headErr = loadSpecFile(opts.Spec, "head spec", vocab.Say(opts.Spell, OptSpec, nil))
	}()
	base, baseVer, baseInfo, baseErr = loadBase(ctx, opts)
	wg.Wait()
	if err := firstErr(headErr, baseErr); err != nil {
		return err
	}
	o.set("head", map[string]any{"spec": opts.Spec, "version": headVer})
	baseInfo["version"] = baseVer
	o.set("base", baseInfo)
	lg.Printf("apidiff: comparing %s (%s) with base %s (%s)", opts.Spec, specKind(headVer), describeBase(baseInfo), specKind(baseVer))

	rep, err := openapi.Breaking(base, head, failOn, allow)
	if err != nil {
		return result.Errorf(result.ClassInput, "comparing %s with the base: %v", opts.Spec, err)
	}
	o.set("changes", len(rep.Changes))
	o.set("failing", rep.Failing)
	o.set("accepted", rep.Allowed)
	var failing []string
	for _, c := range rep.Changes {
		it := result.Item{Name: strings.TrimSpace(c.Operation + " " + c.Path), Kind: "api-change", Message: c.Text,
			Details: map[string]any{"id": c.ID, "level": c.Level, "operation": c.Operation, "path": c.Path, "text": c.Text}}
		switch {
		case c.Failing:
			it.FailureClass = result.ClassRejected
			failing = append(failing, fmt.Sprintf("%s %s %s", c.ID, c.Operation, c.Path))
		case c.Accepted:
			it.Status = result.StatusPassed
			it.Details["accepted"] = true
			it.Details["reason"] = c.Reason
		default:
			it.Status = result.StatusPassed
		}
		o.add(it)
		mark := "ok      "
		if c.Failing {
			mark = "BREAKING"
		} else if c.Accepted {
			mark = "accepted"
		}
		lg.Printf("apidiff: %s [%s] %s %s: %s", mark, c.ID, c.Operation, c.Path, c.Text)
	}
	if len(failing) > 0 {
		return result.Errorf(result.ClassRejected, "%d breaking change(s) at or above %s: %s (accept one with an allow-list entry and a reason)",
			len(failing), strings.ToUpper(opts.FailOn), strings.Join(failing, "; "))
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func describeBase(info map[string]any) string {
	if f, ok := info["spec"]; ok {
		return fmt.Sprint(f)
	}
	return fmt.Sprintf("%v:%v", info["ref"], info["path"])
}

// loadSpecFile reads and parses a spec; every failure is an input error naming the file.
func loadSpecFile(path, what, option string) (*openapi3.T, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", result.Errorf(result.ClassInput, "%s %s: %v (%s)", what, path, pathErr(err), option)
	}
	doc, ver, err := openapi.LoadSpec(b)
	if err != nil {
		return nil, "", result.Errorf(result.ClassInput, "%s %s: %v (%s)", what, path, err, option)
	}
	return doc, ver, nil
}

// loadBase loads the base spec from a file, a git ref or the newest matching tag.
func loadBase(ctx context.Context, opts APIDiffOptions) (*openapi3.T, string, map[string]any, error) {
	if opts.BaseSpec != "" {
		doc, ver, err := loadSpecFile(opts.BaseSpec, "base spec", vocab.Say(opts.Spell, OptBaseSpec, nil))
		return doc, ver, map[string]any{"source": "file", "spec": opts.BaseSpec}, err
	}
	info := map[string]any{"source": "ref"}
	ref := opts.BaseRef
	if ref == "" {
		tag, err := newestTag(ctx, opts)
		if err != nil {
			return nil, "", info, err
		}
		ref = tag
		info["source"] = "tag"
		info["tag_pattern"] = opts.TagPattern
	}
	info["ref"] = ref
	if _, err := git(ctx, opts.Git, opts.Dir, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}"); err != nil {
		return nil, "", info, result.Errorf(result.ClassInput, "base ref %q not found in the git repository at %s: fetch it (git fetch --tags) or fix %s", ref, opts.Dir, vocab.Say(opts.Spell, OptBaseRef, ref))
	}
	path := opts.BasePath
	if path == "" {
		rel, err := relTo(opts.Dir, opts.Spec)
		if err != nil {
			return nil, "", info, result.Errorf(result.ClassInput, "head spec %s is outside %s: set %s", opts.Spec, opts.Dir, vocab.Say(opts.Spell, OptBasePath, nil))
		}
		path = rel
	}
	path = filepath.ToSlash(path)
	info["path"] = path
	out, err := git(ctx, opts.Git, opts.Dir, "show", ref+":./"+strings.TrimPrefix(path, "./"))
	if err != nil {
		return nil, "", info, result.Errorf(result.ClassInput, "base spec %s not found at %s: set %s to where the spec lived in that release", path, ref, vocab.Say(opts.Spell, OptBasePath, nil))
	}
	doc, ver, err := openapi.LoadSpec(out)
	if err != nil {
		return nil, "", info, result.Errorf(result.ClassInput, "base spec %s at %s: %v", path, ref, err)
	}
	return doc, ver, info, nil
}

// newestTag returns the newest tag matching pattern that is reachable from HEAD.
func newestTag(ctx context.Context, opts APIDiffOptions) (string, error) {
	gitBin, dir, pattern := opts.Git, opts.Dir, opts.TagPattern
	if _, err := git(ctx, gitBin, dir, "rev-parse", "--git-dir"); err != nil {
		return "", result.Errorf(result.ClassInput, "%s is not in a git repository: set %s, or run the gate in the checkout", dir, vocab.Say(opts.Spell, OptBaseSpec, nil))
	}
	out, err := git(ctx, gitBin, dir, "describe", "--tags", "--abbrev=0", "--match", pattern, "HEAD")
	tag := strings.TrimSpace(string(out))
	if err != nil || tag == "" {
		return "", result.Errorf(result.ClassInput, "no tag matching %q reachable from HEAD in %s: fetch tags (git fetch --tags), fix %s, or set %s or %s", pattern, dir, vocab.Say(opts.Spell, OptTagPattern, pattern), vocab.Say(opts.Spell, OptBaseRef, nil), vocab.Say(opts.Spell, OptBaseSpec, nil))
	}
	return tag, nil
}

func relTo(dir, path string) (string, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	absPath, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(absDir, absPath)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("%s not under %s", path, dir)
	}
	return rel, nil
}

// pathErr drops the path from an *os.PathError, because the caller names the file already.
func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func specKind(version string) string {
	if version == "2.0" {
		return "Swagger 2.0"
	}
	return "OpenAPI " + version
}
