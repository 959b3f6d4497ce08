package gate

import "github.com/release-gates/release-gates/helpers/internal/vocab"

// Options of the checks, as vocab spells them for the user; each is the helper flag's name.
const (
	OptDir        vocab.Option = "dir"
	OptSpec       vocab.Option = "spec"
	OptBaseSpec   vocab.Option = "base-spec"
	OptBaseRef    vocab.Option = "base-ref"
	OptBasePath   vocab.Option = "base-path"
	OptTagPattern vocab.Option = "tag-pattern"
	OptFailOn     vocab.Option = "fail-on"
	OptAllowList  vocab.Option = "allow-list"
	OptCmd        vocab.Option = "cmd"
	OptEnv        vocab.Option = "env"
	OptURL        vocab.Option = "url"
	OptDeadline   vocab.Option = "deadline"
)

// Spelling names the options as the goBuildGate step's keys, with the values the Jenkinsfile gave (paths as written,
// before they are resolved against dir).
func (p *StepParams) Spelling() vocab.Keys {
	return vocab.Keys{Names: map[vocab.Option]string{
		OptDir: "dir", OptSpec: "spec", OptBaseSpec: "baseSpec", OptBaseRef: "baseRef", OptBasePath: "basePath", OptTagPattern: "tagPattern",
		OptFailOn: "failOn", OptAllowList: "allowList", OptCmd: "smokeCommand", OptEnv: "smokeEnv", OptURL: "healthUrl", OptDeadline: "deadline",
	}, Given: given(map[vocab.Option]any{
		OptDir: p.Dir, OptSpec: p.Spec, OptBaseSpec: p.BaseSpec, OptBaseRef: p.BaseRef, OptBasePath: p.BasePath, OptTagPattern: p.TagPattern,
		OptFailOn: p.FailOn, OptAllowList: p.AllowList, OptCmd: p.SmokeCommand, OptURL: p.HealthURL, OptDeadline: p.Deadline,
	})}
}

// Spelling names the options as the keys of a bare params document (go-build-gate run --params with no step).
func (p *Params) Spelling() vocab.Keys {
	a, s := p.APIDiff, p.Smoke
	return vocab.Keys{Names: map[vocab.Option]string{
		OptDir: "dir", OptSpec: "apidiff.spec", OptBaseSpec: "apidiff.baseSpec", OptBaseRef: "apidiff.baseRef", OptBasePath: "apidiff.basePath",
		OptTagPattern: "apidiff.tagPattern", OptFailOn: "apidiff.failOn", OptAllowList: "apidiff.allowList", OptCmd: "smoke.command",
		OptEnv: "smoke.env", OptURL: "smoke.url", OptDeadline: "smoke.deadline",
	}, Given: given(map[vocab.Option]any{
		OptDir: p.Dir, OptSpec: a.Spec, OptBaseSpec: a.BaseSpec, OptBaseRef: a.BaseRef, OptBasePath: a.BasePath, OptTagPattern: a.TagPattern,
		OptFailOn: a.FailOn, OptAllowList: a.AllowList, OptCmd: s.Command, OptURL: s.URL, OptDeadline: s.Deadline,
	})}
}

// given drops the empty values: an option the user left out is named alone.
func given(m map[vocab.Option]any) map[vocab.Option]any {
	for o, v := range m {
		if s, ok := v.(string); ok && s == "" {
			delete(m, o)
		}
	}
	return m
}
