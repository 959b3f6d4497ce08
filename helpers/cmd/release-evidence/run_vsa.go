package main

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/params"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/release"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/vsa"
)

// runStepVSA issues the VSA of a release verifyRelease verified, with the verifier key the Map names (vsaKey or
// vsaKeyCredentialsId); it returns what the step returns as vsa: the attestation's ref and manifest digest, key id and policy digest.
func runStepVSA(c *cli.Context, doc *params.Doc, p *release.StepParams, out release.StepOutcome) (map[string]any, error) {
	ref, param := p.VSAKey, "vsaKey"
	if ref == "" {
		ref, param = doc.Secret("vsaKey"), "vsaKeyCredentialsId"
	}
	r, err := keys.ParseRef(ref)
	if err != nil {
		return nil, result.Errorf(result.ClassOf(err), "%s: %w", param, err)
	}
	k, err := keys.Load(c.Context, r, keys.LoadOptions{PasswordEnv: doc.SecretEnv("vsaPassword"), PINEnv: doc.SecretEnv("vsaPin")})
	if err != nil {
		return nil, result.Errorf(result.ClassOf(err), "%s: %w", param, err)
	}
	defer k.Close()
	rc := registry.New(registry.Options{PlainHTTP: p.PlainHTTP, Username: doc.Secret("registryUsername"), Password: doc.Secret("registryPassword")})
	d, err := attachVSA(c, rc, k, out.Options, out.Verified, vsaArgs{Ledger: p.Ledger, VerifierID: vsa.DefaultVerifierID})
	if err != nil {
		return nil, err
	}
	tag, _ := d["tag"].(string)
	ret := map[string]any{"ref": tag, "key_id": d["key_id"], "policy_digest": d["policy_digest"], "predicate_type": vsa.PredicateType}
	if att, err := rc.Parse(tag); err == nil { // the attestation manifest's digest, as it stands in the registry
		if t, err := rc.Resolve(c.Context, att, v1.Hash{}); err == nil {
			ret["digest"] = t.Digest.String()
		}
	}
	return ret, nil
}
