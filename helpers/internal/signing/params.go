package signing

import (
	"regexp"
	"strings"

	"github.com/release-gates/release-gates/helpers/internal/blob"
	"github.com/release-gates/release-gates/helpers/internal/bundle"
	"github.com/release-gates/release-gates/helpers/internal/gobin"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/params"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/vocab"
)

// Params is the signArtifacts step's Map; one field per parameter.
type Params struct {
	Files                 []string `json:"files" default:"[]" doc:"files to sign; globs allowed (the helper expands them; no match fails)." example:"['dist/orders-*', 'go.sum']"`
	Images                []string `json:"images" default:"[]" doc:"images to sign by digest: repo:tag, repo@sha256:... or repo:tag@sha256:... (pins the expected digest)." example:"['registry.example.com/orders:1.4.0']"`
	Key                   string   `json:"key" need:"required unless keyCredentialsId or keyring" doc:"signing key: a path, file://path or a pkcs11: URI (RFC 7512; pin-value refused)." example:"'pkcs11:token=release;object=signer?module-path=/usr/lib/softhsm/libsofthsm2.so'"`
	KeyCredentialsID      string   `json:"keyCredentialsId" need:"required unless key or keyring" doc:"id of a Jenkins file credential holding the encrypted cosign key (bound as RG_SIGNING_KEY)." example:"'cosign-release-key'"`
	Keyring               string   `json:"keyring" doc:"keys.yaml (sign-artifacts keys status/rotate/revoke); instead of key, signs with the current active key of environment, after an HSM health check, and counts its signatures." example:"'keys.yaml'"`
	Environment           string   `json:"environment" need:"required with keyring" doc:"the environment whose current key signs." example:"'prod'"`
	KeyringAuditLog       string   `json:"keyringAuditLog" doc:"with keyring, append a JSON line here when a software fallback is used (the key fallback log)." example:"'.release-gates/key-fallback.jsonl'"`
	PasswordCredentialsID string   `json:"passwordCredentialsId" doc:"id of a secret text credential with the key password (bound as COSIGN_PASSWORD)." example:"'cosign-release-password'"`
	PinCredentialsID      string   `json:"pinCredentialsId" doc:"id of a secret text credential with the PKCS#11 user PIN (bound as PKCS11_PIN)." example:"'hsm-pin'"`
	CertChain             string   `json:"certChain" need:"required for notation images unless keyring names one" doc:"PEM certificate chain of the key, leaf first." example:"'pki/chain.pem'"`
	Formats               []string `json:"formats" default:"[\"cosign\",\"notation\"]" doc:"image signature formats, cosign and/or notation." example:"['cosign']"`
	NotationFormat        string   `json:"notationFormat" default:"\"jws\"" doc:"notation envelope, jws or cose." example:"'cose'"`
	Referrers             bool     `json:"referrers" default:"false" doc:"store cosign signatures as OCI 1.1 referrers instead of sha256-<hex>.sig tags." example:"true"`
	ExpectDigest          string   `json:"expectDigest" doc:"sha256:... the single image must resolve to; a moved tag is rejected." example:"'sha256:9f86d0...'"`
	Checksums             string   `json:"checksums" doc:"also write this goreleaser-style SHA256SUMS of the files and sign it." example:"'dist/SHA256SUMS'"`
	Bundle                bool     `json:"bundle" default:"false" doc:"also write <file>.bundle (cosign key-based bundle, for cosign verify-blob --bundle)." example:"true"`
	BundleFormat          string   `json:"bundleFormat" doc:"v0.3: write blob bundles as sigstore bundle v0.3 (implies bundle) and attach a bundle v0.3 referrer to each image, as cosign v3 does by default." example:"'v0.3'"`
	TimestampURL          string   `json:"timestampUrl" doc:"RFC 3161 timestamp authority for the notation signatures, so they verify after the certificate expires." example:"'https://tsa.example.com/tsr'"`
	TimestampRootCert     string   `json:"timestampRootCert" need:"required with timestampUrl" doc:"PEM root certificate of the timestampUrl authority." example:"'pki/tsa-root.pem'"`
	ExpectPlatform        string   `json:"expectPlatform" doc:"Go binaries among files must be built for this os/arch." example:"'linux/amd64'"`
	AllowDirty            bool     `json:"allowDirty" default:"false" doc:"accept Go binaries built from a modified work tree (vcs.modified=true)." example:"true"`
	OutDir                string   `json:"outDir" doc:"write blob signatures here instead of next to each file." example:"'dist/signatures'"`
	RegistryCredentialsID string   `json:"registryCredentialsId" doc:"username/password credential for the registry (bound as REGISTRY_USERNAME/REGISTRY_PASSWORD); default: the agent's docker config." example:"'registry-push'"`
	PlainHTTP             bool     `json:"plainHttp" default:"false" doc:"allow plain HTTP to the registry (never implied, even for localhost)." example:"true"`
	VerifyKeys            []string `json:"verifyKeys" default:"[]" doc:"public keys (PEM files or pkcs11: URIs) the signatures are verified with after signing; default: the signing key's, exported to <resultFile base>.pub." example:"['release.pub']"`
	TrustPolicy           string   `json:"trustPolicy" doc:"notation trust policy JSON; with trustStore, the images are verified after signing as a deploy would." example:"'trust/policy.json'"`
	TrustStore            string   `json:"trustStore" doc:"notation trust store dir (x509/ca/<name>/*.pem); with trustPolicy." example:"'trust/store'"`
	Parallel              int      `json:"parallel" default:"4" doc:"files or images processed at once, 1 to 64." example:"8"`
	ResultFile            string   `json:"resultFile" default:"\".release-gates/signArtifacts.json\"" doc:"combined result; each stage writes <base>-<verb>.json beside it." example:"'.release-gates/sign.json'"`
}

var platformRE = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9]+$`)
var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func inputf(format string, args ...any) error {
	return result.Errorf(result.ClassInput, format, args...)
}

// Validate checks the cross-parameter rules; each message names the Jenkinsfile key (and never echoes a secret).
func (p *Params) Validate() error {
	if len(p.Files) == 0 && len(p.Images) == 0 {
		return inputf("nothing to sign: give files (paths or globs) and/or images, e.g. files: ['dist/*', 'go.sum']")
	}
	// Before any message quotes key.
	if strings.Contains(strings.ToLower(p.Key), "pin-value") {
		return inputf("a pin-value in the key URI is refused (it would be on the command line and in the log): " +
			"store the PIN as a secret text credential and pass pinCredentialsId (bound as PKCS11_PIN)")
	}
	keySet := given(kv{"key", p.Key}, kv{"keyCredentialsId", p.KeyCredentialsID}, kv{"keyring", p.Keyring})
	if len(keySet) > 1 {
		both := "both"
		if len(keySet) > 2 {
			both = "all"
		}
		return inputf("%s are %s set: set one of key (a path, file:// or pkcs11: URI), keyCredentialsId (a Jenkins file credential) "+
			"or keyring (keys.yaml), not both", strings.Join(keySet, " and "), both)
	}
	if len(keySet) == 0 {
		return inputf("parameter 'key', 'keyCredentialsId' or 'keyring' is required: key: 'pkcs11:token=release;object=signer?module-path=...', " +
			"keyCredentialsId: 'cosign-key' or keyring: 'keys.yaml' with environment (see vars/signArtifacts.txt)")
	}
	if err := together(kv{"keyring", p.Keyring}, kv{"environment", p.Environment},
		"set keyring and environment together (keys.yaml and the environment whose current key signs)"); err != nil {
		return err
	}
	if p.KeyringAuditLog != "" && p.Keyring == "" {
		return inputf("keyringAuditLog: %s applies only with keyring: set keyring (keys.yaml) and environment, or drop keyringAuditLog",
			vocab.Groovy(p.KeyringAuditLog))
	}
	if len(p.Formats) == 0 {
		return inputf("formats must be a non-empty subset of cosign, notation; got []")
	}
	for _, f := range p.Formats {
		if f != "cosign" && f != "notation" {
			return inputf("formats must be a non-empty subset of cosign, notation; got '%s' in formats", f)
		}
	}
	if p.NotationFormat != "jws" && p.NotationFormat != "cose" {
		return inputf("notationFormat must be jws or cose; got '%s'", p.NotationFormat)
	}
	if len(p.Images) > 0 && p.has("notation") && p.CertChain == "" && p.Keyring == "" {
		return inputf("parameter 'certChain' is required to sign images with notation (the key's PEM chain, leaf first), or set formats: ['cosign']")
	}
	if p.ExpectDigest != "" && len(p.Images) != 1 {
		return inputf("expectDigest needs exactly one image; got %d: expectDigest: %s pins one image, sign the others in another call",
			len(p.Images), vocab.Groovy(p.ExpectDigest))
	}
	if p.ExpectDigest != "" && !digestRE.MatchString(p.ExpectDigest) {
		return inputf("expectDigest must be sha256:<64 hex digits>; got '%s'", p.ExpectDigest)
	}
	if set := given(kv{"checksums", p.Checksums}, kv{"bundle", p.Bundle}, kv{"expectPlatform", p.ExpectPlatform}, kv{"allowDirty", p.AllowDirty},
		kv{"outDir", p.OutDir}); len(p.Files) == 0 && len(set) > 0 {
		return inputf("%s: checksums, bundle, expectPlatform, allowDirty and outDir apply to files, and files is empty: list the files to sign, or drop it",
			strings.Join(set, ", "))
	}
	if p.ExpectPlatform != "" && !platformRE.MatchString(p.ExpectPlatform) {
		return inputf("expectPlatform must be os/arch, e.g. linux/arm64; got '%s'", p.ExpectPlatform)
	}
	if set := given(kv{"registryCredentialsId", p.RegistryCredentialsID}, kv{"plainHttp", p.PlainHTTP}, kv{"trustPolicy", p.TrustPolicy},
		kv{"trustStore", p.TrustStore}); len(p.Images) == 0 && len(set) > 0 {
		return inputf("%s: registryCredentialsId, plainHttp, trustPolicy and trustStore apply to images, and images is empty: list the images to sign, or drop it",
			strings.Join(set, ", "))
	}
	if err := together(kv{"trustPolicy", p.TrustPolicy}, kv{"trustStore", p.TrustStore},
		"set trustPolicy and trustStore together (the notation trust policy JSON and its trust store dir)"); err != nil {
		return err
	}
	if _, err := bundle.ParseFormat(p.BundleFormat); err != nil {
		return inputf("bundleFormat must be v0.3 (or unset); got '%s'", p.BundleFormat)
	}
	if err := together(kv{"timestampUrl", p.TimestampURL}, kv{"timestampRootCert", p.TimestampRootCert},
		"set timestampUrl and timestampRootCert together (the timestamp authority and its PEM root certificate)"); err != nil {
		return err
	}
	if p.TimestampURL != "" && (len(p.Images) == 0 || !p.has("notation")) {
		why := "images is empty"
		if len(p.Images) > 0 {
			why = "formats: " + vocab.Groovy(p.Formats) + " has no 'notation'"
		}
		return inputf("timestampUrl: %s applies to notation signatures of images, and %s: set images and keep 'notation' in formats, or drop timestampUrl",
			vocab.Groovy(p.TimestampURL), why)
	}
	if p.Parallel < 1 || p.Parallel > 64 {
		return inputf("parallel must be a whole number from 1 to 64; got %d", p.Parallel)
	}
	for i, k := range p.VerifyKeys {
		switch {
		case strings.TrimSpace(k) == "":
			return inputf("verifyKeys: %s has an empty entry (number %d): verifyKeys must list public key files (or pkcs11: URIs without pin-value), "+
				"e.g. verifyKeys: ['release.pub']", vocab.Groovy(p.VerifyKeys), i+1)
		case strings.Contains(strings.ToLower(k), "pin-value"):
			// Not quoted: the entry holds a PIN.
			return inputf("verifyKeys entry number %d has a pin-value, which is refused (it would be in the log): verifyKeys must list public key files "+
				"(or pkcs11: URIs without pin-value; the PIN comes from pinCredentialsId), e.g. verifyKeys: ['release.pub']", i+1)
		}
	}
	return nil
}

func (p *Params) has(format string) bool {
	for _, f := range p.Formats {
		if f == format {
			return true
		}
	}
	return false
}

// Credential env vars of the signArtifacts step.
const (
	KeyFileEnv = "RG_SIGNING_KEY"
)

// Step declares the signArtifacts pipeline step.
var Step = params.Step{
	Name:   "signArtifacts",
	Helper: "sign-artifacts",
	Params: func() params.Validator { return &Params{} },
	Credentials: []params.Credential{
		{Param: "keyCredentialsId", Kind: params.KindFile, Role: "key", Variable: KeyFileEnv},
		{Param: "passwordCredentialsId", Kind: params.KindString, Role: "password", Variable: "COSIGN_PASSWORD"},
		{Param: "pinCredentialsId", Kind: params.KindString, Role: "pin", Variable: "PKCS11_PIN"},
		{Param: "registryCredentialsId", Kind: params.KindUsernamePassword, Role: "registry", UsernameVariable: "REGISTRY_USERNAME", PasswordVariable: "REGISTRY_PASSWORD"},
	},
	Help: `signArtifacts: signs release files (binaries, go.sum, a SHA256SUMS) and container images with the sign-artifacts
helper, verifies every signature right after signing, archives the signatures and results, and returns the result.
  files   cosign-compatible detached signatures (<file>.sig, as cosign sign-blob writes them), optionally a signed
          SHA256SUMS (checksums) and cosign bundles (bundle); then verified with verifyKeys, or with the signing key's
          public key, exported to <resultFile base>.pub from the key already loaded.
  images  signed by digest with cosign and/or Notary Project (notation); each signature is pushed and verified
          in-process. With trustPolicy/trustStore the images are verified again as a deploy would.
Keys: a file key (key: 'cosign.key' or keyCredentialsId for a Jenkins file credential, password in
passwordCredentialsId), an HSM key (key: 'pkcs11:token=...;object=...?module-path=...', PIN in pinCredentialsId)
or keys.yaml (keyring with environment).

Needs an executor (call it inside node). The runner checks the Map against resources/steps/signArtifacts.json and runs
one labelled sh ("signArtifacts: run": sign-artifacts run); the helper runs the whole flow: keys select (keyring),
blob sign, blob verify, image sign, image verify. Secrets never reach a command line: withCredentials binds the key
file as RG_SIGNING_KEY, the password as COSIGN_PASSWORD, the PIN as PKCS11_PIN and the registry login as
REGISTRY_USERNAME/REGISTRY_PASSWORD; the params file names only these variables.
Each stage writes its own result file beside resultFile (signArtifacts-keys-select.json, -blob-sign.json,
-blob-verify.json, -image-sign.json, -image-verify.json); resultFile itself gets the helper's result, whose returns
are the combined result in the helper result schema (status, trace_id, items: one per signed file or image), so
slackApproval can take it as a summary. The flow stops at the first failing stage, archives what exists, prints one
line per item and fails.

Returns a Map: status, exit_code, message, trace_id, items, signatures (blob .sig/.bundle paths), publicKey (the
exported .pub or null), resultFiles, results (keysSelect, blobSign, blobVerify, imageSign, imageVerify: each stage's result).

Fails the build with:
  signArtifacts: rejected: ...                          a signature does not verify, a Go binary breaks the policy (exit 1)
  signArtifacts: bad input or configuration: ...        a glob matches nothing, a wrong key password, a bad parameter (exit 2)
  signArtifacts: infrastructure unavailable: ... (retry later)   the registry or HSM did not answer (exit 3)
  signArtifacts: bad input or configuration: a pin-value in the key URI is refused ...   use pinCredentialsId
  signArtifacts: unknown parameter 'x' ...              a key not listed below (before anything runs)`,
	Footer: `Example:
  def signed = signArtifacts(files: ['dist/orders-linux-amd64', 'go.sum'], checksums: 'dist/SHA256SUMS',
                             images: ["registry.example.com/orders:${env.BUILD_NUMBER}"],
                             key: 'pkcs11:token=release;object=signer?module-path=/usr/lib/softhsm/libsofthsm2.so',
                             pinCredentialsId: 'hsm-pin', certChain: 'pki/chain.pem')
  echo "signed ${signed.items.size()} artifacts; image digest ${signed.results.imageSign.items[0].details.digest}"`,
}

// Spelling names the options of the packages the step drives (blob, gobin, keys) as this step's keys, with the values
// the Jenkinsfile gave; the key password and PIN, read from passwordEnv and pinEnv ("" for the defaults), are named by
// their credential keys and ids, never by the secrets.
func (p *Params) Spelling(passwordEnv, pinEnv string) vocab.Keys {
	if passwordEnv == "" {
		passwordEnv = keys.PasswordEnv
	}
	if pinEnv == "" {
		pinEnv = keys.PINEnv
	}
	k := vocab.Keys{Names: map[vocab.Option]string{
		gobin.OptAllowDirty: "allowDirty", gobin.OptExpectPlatform: "expectPlatform",
		blob.OptOutDir: "outDir", blob.OptChecksums: "checksums",
		registry.OptPlainHTTP: "plainHttp", OptCertChain: "certChain",
		vocab.Env(passwordEnv): "passwordCredentialsId", vocab.Env(pinEnv): "pinCredentialsId",
	}, Given: map[vocab.Option]any{}}
	for o, v := range map[vocab.Option]string{gobin.OptExpectPlatform: p.ExpectPlatform, blob.OptOutDir: p.OutDir, blob.OptChecksums: p.Checksums, OptCertChain: p.CertChain,
		vocab.Env(passwordEnv): p.PasswordCredentialsID, vocab.Env(pinEnv): p.PinCredentialsID} {
		if v != "" {
			k.Given[o] = v
		}
	}
	return k
}

// kv is one parameter as the Jenkinsfile wrote it.
type kv struct {
	key   string
	value any
}

// given renders the parameters that are set (a non-empty string, true) as "key: value".
func given(params ...kv) []string {
	var out []string
	for _, p := range params {
		if v, ok := p.value.(string); ok && v == "" {
			continue
		}
		if v, ok := p.value.(bool); ok && !v {
			continue
		}
		out = append(out, p.key+": "+vocab.Groovy(p.value))
	}
	return out
}

// together refuses one of two parameters without the other, naming the one given with its value.
func together(a, b kv, advice string) error {
	set := given(a, b)
	if len(set) != 1 {
		return nil
	}
	missing := b.key
	if strings.HasPrefix(set[0], b.key+": ") {
		missing = a.key
	}
	return inputf("%s is set without %s: %s", set[0], missing, advice)
}
