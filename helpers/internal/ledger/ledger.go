package ledger

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Genesis is the prev hash of a chain's first record.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// Kinds of records that join a release's chain.
const (
	KindGate        = "gate"        // a gate's helper result
	KindSign        = "sign"        // a signing helper result
	KindApproval    = "approval"    // a slack-approval audit line
	KindAttestation = "attestation" // a provenance or approval attestation written
	KindRelease     = "release"     // a release verified for an environment (the rollback index)
	KindRollback    = "rollback"    // a rollback target chosen
	KindResult      = "result"      // any other helper result
)

// Body is the signed part of a record.
type Body struct {
	Seq         int            `json:"seq"`
	Prev        string         `json:"prev"` // sha256 hex of the previous line, Genesis for the first
	Time        time.Time      `json:"time"`
	TraceID     string         `json:"trace_id"`
	Kind        string         `json:"kind"`
	Source      string         `json:"source,omitempty"`      // helper and verb, or file the record came from
	Status      string         `json:"status,omitempty"`      // passed, rejected, approved ...
	Environment string         `json:"environment,omitempty"` // target environment, when the record has one
	Subject     string         `json:"subject,omitempty"`     // artifact digest or image reference
	Data        map[string]any `json:"data,omitempty"`
}

// Record is one ledger line: the exact body bytes, the signing key id and the signature over sha256(body).
type Record struct {
	Body  json.RawMessage `json:"body"`
	KeyID string          `json:"key_id"`
	Sig   string          `json:"sig"`
}

// Entry is a record decoded with its position and line hash.
type Entry struct {
	Body
	Line  int    // 1-based line number in the file
	Hash  string // sha256 hex of the line (without newline)
	KeyID string
}

// Append adds bodies to the ledger at path, signed by signer, after verifying the whole chain already there with
// signer's public key (see AppendVerified).
func Append(path string, signer crypto.Signer, bodies ...Body) ([]Entry, error) {
	return AppendVerified(path, signer, VerifyOptions{}, bodies...)
}

// AppendVerified adds bodies to the ledger at path, signed by signer, under an exclusive flock. The records already
// there must verify first (opts.Keys plus signer's public key; opts.ExpectHead when set): a tampered, cut or
// reordered ledger is refused with ClassTamper and left untouched. The file is rewritten atomically (temp + fsync +
// rename) so a reader never sees half a line. Seq and Prev are filled in here.
func AppendVerified(path string, signer crypto.Signer, opts VerifyOptions, bodies ...Body) ([]Entry, error) {
	if len(bodies) == 0 {
		return nil, nil
	}
	keyID, err := keys.KeyID(signer.Public())
	if err != nil {
		return nil, err
	}
	unlock, err := lock(path)
	if err != nil {
		return nil, err
	}
	defer unlock()
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, result.Errorf(result.ClassInput, "reading ledger %s: %v", path, err)
	}
	if len(old) > 0 && old[len(old)-1] != '\n' {
		return nil, result.Errorf(result.ClassTamper, "refusing to append: ledger %s does not end with a newline: its last record is cut short; run audit verify", path)
	}
	opts.Keys = append(append([]crypto.PublicKey{}, opts.Keys...), signer.Public())
	rep, err := VerifyReader(bytes.NewReader(old), path, opts)
	if err != nil {
		return nil, result.Errorf(result.ClassOf(err), "refusing to append: %v", err)
	}
	prev, seq := rep.Head, rep.Records
	var add bytes.Buffer
	out := make([]Entry, 0, len(bodies))
	for _, b := range bodies {
		seq++
		b.Seq, b.Prev = seq, prev
		if b.Time.IsZero() {
			b.Time = time.Now().UTC()
		}
		line, err := encode(b, signer, keyID)
		if err != nil {
			return nil, err
		}
		prev = hashLine(line)
		add.Write(line)
		add.WriteByte('\n')
		out = append(out, Entry{Body: b, Line: seq, Hash: prev, KeyID: keyID})
	}
	err = atomicfile.Write(path, 0o644, func(w io.Writer) error {
		if _, err := w.Write(old); err != nil {
			return err
		}
		_, err := w.Write(add.Bytes())
		return err
	})
	if err != nil {
		return nil, result.Errorf(result.ClassInput, "writing ledger %s: %v", path, err)
	}
	return out, nil
}

// lock takes an exclusive flock on path+".lock"; the ledger itself is replaced by rename, so it cannot carry the lock.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, result.Errorf(result.ClassInput, "locking ledger %s: %v", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, result.Errorf(result.ClassInput, "locking ledger %s: %v", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func encode(b Body, signer crypto.Signer, keyID string) ([]byte, error) {
	body, err := json.Marshal(b)
	if err != nil {
		return nil, result.Errorf(result.ClassInput, "encoding ledger record: %v", err)
	}
	sig, err := Sign(signer, body)
	if err != nil {
		return nil, err
	}
	return json.Marshal(Record{Body: body, KeyID: keyID, Sig: base64.StdEncoding.EncodeToString(sig)})
}

// Sign signs msg as cosign does for a key: a signature over sha256(msg) (pure Ed25519 for Ed25519 keys).
func Sign(s crypto.Signer, msg []byte) ([]byte, error) {
	var sig []byte
	var err error
	if _, ok := s.Public().(ed25519.PublicKey); ok {
		sig, err = s.Sign(rand.Reader, msg, crypto.Hash(0))
	} else {
		sum := sha256.Sum256(msg)
		sig, err = s.Sign(rand.Reader, sum[:], crypto.SHA256)
	}
	if err != nil {
		return nil, result.Errorf(result.ClassKey, "signing with the key: %v", err)
	}
	return sig, nil
}

// Verifier checks signatures made by Sign.
func Verifier(pub crypto.PublicKey) (signature.Verifier, error) {
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, result.Errorf(result.ClassKey, "unsupported public key: %v", err)
	}
	return v, nil
}

func hashLine(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// Report is the outcome of Verify for a chain that verified.
type Report struct {
	Records int    // records checked
	Head    string // hash of the last line, Genesis when empty
	Entries []Entry
}

// VerifyOptions say which keys may sign and what the head must be.
type VerifyOptions struct {
	Keys       []crypto.PublicKey // accepted audit keys; a record signed by any other is tampered
	ExpectHead string             // when set, the last line's hash must equal it (catches a cut-off tail)
}

// Verify reads the ledger at path and checks every line: well-formed, signed by an accepted key, seq in order and
// hash-linked to the line before. The first bad record is named in a ClassTamper error.
func Verify(path string, opts VerifyOptions) (Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return Report{}, result.Errorf(result.ClassInput, "reading ledger %s: %v", path, unwrap(err))
	}
	defer f.Close()
	return VerifyReader(f, path, opts)
}

// VerifyReader is Verify over r; name labels errors.
func VerifyReader(r io.Reader, name string, opts VerifyOptions) (Report, error) {
	if len(opts.Keys) == 0 {
		return Report{}, result.Errorf(result.ClassInput, "verifying ledger %s needs the audit public key: pass --pub audit.pub", name)
	}
	vs := map[string]signature.Verifier{}
	for _, k := range opts.Keys {
		id, err := keys.KeyID(k)
		if err != nil {
			return Report{}, err
		}
		if vs[id], err = Verifier(k); err != nil {
			return Report{}, err
		}
	}
	rep := Report{Head: Genesis}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	n := 0
	bad := func(format string, args ...any) (Report, error) {
		return rep, result.Errorf(result.ClassTamper, "ledger %s: record %d is bad: %s", name, n, fmt.Sprintf(format, args...))
	}
	for sc.Scan() {
		n++
		line := sc.Bytes()
		var rec Record
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil || len(rec.Body) == 0 {
			return bad("not a ledger record (edited or cut short)")
		}
		var body Body
		if err := json.Unmarshal(rec.Body, &body); err != nil {
			return bad("its body is not valid JSON (edited)")
		}
		v, ok := vs[rec.KeyID]
		if !ok {
			return bad("signed by key %q, which is not an accepted audit key (inserted or re-signed)", short(rec.KeyID))
		}
		sig, err := base64.StdEncoding.DecodeString(rec.Sig)
		if err != nil || v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(rec.Body)) != nil {
			return bad("signature does not verify (edited or inserted)")
		}
		if body.Seq != n {
			return bad("seq is %d, want %d (a record was deleted, inserted or reordered before it)", body.Seq, n)
		}
		if body.Prev != rep.Head {
			return bad("prev hash does not match record %d (a record was deleted, inserted or reordered before it)", n-1)
		}
		rep.Head = hashLine(line)
		rep.Entries = append(rep.Entries, Entry{Body: body, Line: n, Hash: rep.Head, KeyID: rec.KeyID})
	}
	if err := sc.Err(); err != nil {
		return rep, result.Errorf(result.ClassInput, "reading ledger %s: %v", name, err)
	}
	rep.Records = n
	if opts.ExpectHead != "" && opts.ExpectHead != rep.Head {
		return rep, result.Errorf(result.ClassTamper, "ledger %s: head after record %d is %s, but the expected head is %s (records were cut off the end, added or replaced)", name, n, rep.Head, opts.ExpectHead)
	}
	return rep, nil
}

func short(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}

func unwrap(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
