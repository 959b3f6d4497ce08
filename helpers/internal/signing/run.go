package signing

import (
	"context"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/release-gates/release-gates/helpers/internal/blob"
	"github.com/release-gates/release-gates/helpers/internal/bundle"
	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// RunOptions carry what the step's params document adds to Params: secrets (already read from the env the runner
// bound), the trace id and where the stage result files go.
type RunOptions struct {
	KeyFile          string // path of the key file credential (keyCredentialsId), "" when none
	PasswordEnv      string // env var the key password is bound to ("" means $COSIGN_PASSWORD)
	PINEnv           string // env var the PKCS#11 PIN is bound to ("" means $PKCS11_PIN)
	RegistryUsername string
	RegistryPassword string
	TraceID          string
	Helper, Version  string // name the stage results
	ResultFile       string // the step's result file; stage results go beside it as <base>-<verb>.json
	Log              *log.Logger
}

// Stage names, as the step's returned results map keys them.
var stageVerbs = map[string]string{"keysSelect": "keys select", "blobSign": "blob sign", "blobVerify": "blob verify",
	"imageSign": "image sign", "imageVerify": "image verify"}

// Outcome is the whole flow's result: every stage that ran, in order, and the combined map the step returns.
type Outcome struct {
	Stages   []string                 // stage keys in the order they ran
	Results  map[string]result.Result // by stage key
	Items    []result.Item            // blob sign and image sign items
	Files    []string                 // stage result files
	Sigs     []string                 // blob signatures and bundles written
	PubKey   string                   // the exported public key, "" when verifyKeys was given
	Failed   string                   // the stage key that failed, "" when none
	Err      error
	Combined map[string]any // what the step returns
}

// StageFile returns the result file of a stage: resultFile with .json replaced by -<verb words>.json.
func StageFile(resultFile, verb string) string {
	return strings.TrimSuffix(resultFile, ".json") + "-" + strings.ReplaceAll(verb, " ", "-") + ".json"
}

// Run signs and verifies as the signArtifacts step asks: keys select (keyring), blob sign, blob verify, image sign,
// image verify; it stops at the first failing stage and writes each stage's result beside o.ResultFile.
func Run(ctx context.Context, p *Params, o RunOptions) *Outcome {
	if o.Log == nil {
		o.Log = log.New(io.Discard, "", 0)
	}
	out := &Outcome{Results: map[string]result.Result{}}
	sp := p.Spelling(o.PasswordEnv, o.PINEnv)
	loadOpts := keys.LoadOptions{PasswordEnv: o.PasswordEnv, PINEnv: o.PINEnv, Spell: sp}
	stage := func(key string, fn func(rec *result.Recorder) error) bool {
		verb := stageVerbs[key]
		rec := result.NewRecorder(o.Helper, o.Version, verb, o.TraceID)
		err := fn(rec)
		r := rec.Finish(err, "")
		out.Stages = append(out.Stages, key)
		out.Results[key] = r
		file := StageFile(o.ResultFile, verb)
		if werr := result.WriteFile(file, r); werr != nil && err == nil {
			err = result.Errorf(result.ClassInput, "writing %s: %w", file, werr)
		}
		out.Files = append(out.Files, file)
		if err != nil {
			out.Failed, out.Err = key, err
			return false
		}
		return true
	}
	keyRef := p.Key
	if keyRef == "" {
		keyRef = o.KeyFile
	}
	pub := strings.TrimSuffix(o.ResultFile, ".json") + ".pub"
	var k Key
	ok := true
	if p.Keyring != "" {
		ok = stage("keysSelect", func(rec *result.Recorder) error {
			var err error
			k, err = ChooseKey(KeyOptions{Keyring: p.Keyring, Environment: p.Environment, FallbackLog: p.KeyringAuditLog, TraceID: o.TraceID, Log: o.Log, Spell: sp})
			if err != nil {
				return err
			}
			k.Record(rec)
			rec.Set("key_ref", k.Ref.String())
			rec.Set("cert_chain", k.CertChain)
			rec.Add(result.Item{Name: k.ID, Kind: "key", Status: result.StatusPassed, Details: map[string]any{"key_ref": k.Ref.String(), "environment": p.Environment}})
			return nil
		})
	} else {
		var err error
		if k, err = ChooseKey(KeyOptions{Key: keyRef}); err != nil {
			out.Failed, out.Err = "keysSelect", result.Errorf(result.ClassOf(err), "key: %w", err)
			ok = false
		}
	}
	verifyKeys := p.VerifyKeys
	exported := ""
	if ok && len(p.Files) > 0 {
		pubOut := ""
		if len(verifyKeys) == 0 {
			pubOut = pub
		}
		ok = stage("blobSign", func(rec *result.Recorder) error {
			files, err := blob.Expand(p.Files, []string{blob.SignatureSuffix, blob.BundleSuffix}, []string{p.Checksums})
			if err != nil {
				return result.Errorf(result.ClassOf(err), "files: %w", err)
			}
			return SignBlobs(ctx, rec, k, files, BlobSignOptions{
				SignOptions: blob.SignOptions{Parallel: p.Parallel, OutDir: p.OutDir, Checksums: p.Checksums, Bundle: p.Bundle || p.BundleFormat != "",
					BundleFormat:   bundleFormat(p.BundleFormat),
					ExpectPlatform: p.ExpectPlatform, AllowDirty: p.AllowDirty, Log: o.Log, Spell: sp},
				Load: loadOpts, PublicKeyOut: pubOut})
		})
		if ok && pubOut != "" {
			exported, verifyKeys = pubOut, []string{pubOut}
		}
		if ok {
			var signed []string
			for _, it := range out.Results["blobSign"].Items {
				if it.Status == result.StatusPassed {
					signed = append(signed, it.Name)
				}
			}
			ok = stage("blobVerify", func(rec *result.Recorder) error {
				pubs, err := PublicKeys(ctx, verifyKeys, loadOpts)
				if err != nil {
					return result.Errorf(result.ClassOf(err), "verifyKeys: %w", err)
				}
				return VerifyBlobs(ctx, rec, pubs, signed, blob.VerifyOptions{Parallel: p.Parallel, SignatureDir: p.OutDir, Log: o.Log})
			})
		}
	}
	if ok && len(p.Images) > 0 {
		formats, _ := image.ParseFormats(strings.Join(p.Formats, ","))
		rc := registry.New(registry.Options{PlainHTTP: p.PlainHTTP, Username: o.RegistryUsername, Password: o.RegistryPassword, Spell: sp})
		pubOut := ""
		if p.TrustPolicy != "" && len(verifyKeys) == 0 && p.has("cosign") {
			pubOut = pub
		}
		ok = stage("imageSign", func(rec *result.Recorder) error {
			return SignImages(ctx, rec, rc, k, p.Images, ImageSignOptions{Formats: formats, NotationFormat: p.NotationFormat, Referrers: p.Referrers,
				ExpectDigest: p.ExpectDigest, BundleFormat: p.BundleFormat, TimestampURL: p.TimestampURL, TimestampRootCert: p.TimestampRootCert,
				CertChain: p.CertChain, Parallel: p.Parallel, Load: loadOpts, PublicKeyOut: pubOut, Log: o.Log, Spell: sp})
		})
		if ok && pubOut != "" {
			exported, verifyKeys = pubOut, []string{pubOut}
		}
		if ok && p.TrustPolicy != "" {
			ok = stage("imageVerify", func(rec *result.Recorder) error {
				vo := ImageVerifyOptions{Formats: formats, TrustPolicy: p.TrustPolicy, TrustStore: p.TrustStore, Parallel: p.Parallel, Log: o.Log}
				if p.has("cosign") {
					pubs, err := keys.LoadPublics(ctx, verifyKeys, "verifyKeys", loadOpts)
					if err != nil {
						return err
					}
					vo.CosignKeys = pubs
				}
				return VerifyImages(ctx, rec, rc, p.Images, vo)
			})
		}
	}
	out.PubKey = exported
	out.combine(p, o)
	return out
}

// bundleFormat normalises a validated bundleFormat parameter ("0.3" is "v0.3").
func bundleFormat(s string) string {
	f, _ := bundle.ParseFormat(s)
	return f
}

// combine builds the map the step returns (the helper result schema, so slackApproval can summarise it).
func (out *Outcome) combine(p *Params, o RunOptions) {
	for _, key := range []string{"blobSign", "imageSign"} {
		if r, ok := out.Results[key]; ok {
			out.Items = append(out.Items, r.Items...)
		}
	}
	for _, it := range out.Results["blobSign"].Items {
		for _, d := range []string{"signature", "bundle"} {
			if s, ok := it.Details[d].(string); ok && s != "" {
				out.Sigs = append(out.Sigs, s)
			}
		}
	}
	results := result.Stages{Order: out.Stages, Results: out.Results}
	class := result.ClassOf(out.Err)
	m := map[string]any{
		"helper": o.Helper, "verb": "signArtifacts", "status": class.Status(), "exit_code": class.ExitCode(), "message": "",
		"trace_id": o.TraceID, "items": result.NonNil(out.Items), "signatures": result.NonNil(out.Sigs), "publicKey": nil,
		"resultFiles": result.NonNil(out.Files), "results": results,
	}
	if out.Err != nil {
		m["message"] = out.Message()
	}
	if out.PubKey != "" {
		m["publicKey"] = out.PubKey
	}
	out.Combined = m
}

// Message names the failed stage and its error, e.g. "blob verify: go.sum: signature ... does not verify".
func (out *Outcome) Message() string {
	if out.Err == nil {
		return ""
	}
	if v, ok := stageVerbs[out.Failed]; ok {
		return v + ": " + out.Err.Error()
	}
	return out.Err.Error()
}

// Summary returns the console lines: the outcome, one line per signed file or image, one per verification.
func (out *Outcome) Summary() []string {
	lines := []string{fmt.Sprintf("signArtifacts: %s (trace %s)", out.Combined["status"], out.Combined["trace_id"])}
	for _, it := range out.Items {
		d, _ := it.Details["digest"].(string)
		if s, ok := it.Details["sha256"].(string); ok && d == "" {
			d = "sha256:" + s
		}
		kind := it.Kind
		if kind == "" {
			kind = "item"
		}
		line := fmt.Sprintf("signArtifacts:   %s %s %s", kind, it.Name, it.Status)
		if d != "" {
			line += " " + d
		}
		lines = append(lines, line)
	}
	for _, key := range []string{"blobVerify", "imageVerify"} {
		if r, ok := out.Results[key]; ok && r.ExitCode == 0 {
			lines = append(lines, fmt.Sprintf("signArtifacts: %s: %d verified", stageVerbs[key], len(r.Items)))
		}
	}
	if out.Err != nil {
		lines = append(lines, "signArtifacts: "+out.Message())
	}
	return lines
}

// Archive returns what the step archives: the stage results, the exported public key and the blob signatures.
func (out *Outcome) Archive() []string {
	a := append([]string{}, out.Files...)
	if out.PubKey != "" {
		a = append(a, out.PubKey)
	}
	return append(a, out.Sigs...)
}
