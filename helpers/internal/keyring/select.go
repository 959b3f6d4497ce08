package keyring

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/hsm"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/retry"
	"github.com/release-gates/release-gates/helpers/internal/vocab"
)

// Selection is the key an environment signs with after the HSM health check.
type Selection struct {
	Signing
	Fallback *FallbackEvent // set when a software key stands in for an unhealthy HSM key
}

// FallbackEvent is the audit record of one software fallback; it never holds a secret.
type FallbackEvent struct {
	Time        time.Time `json:"time"`
	Event       string    `json:"event"` // always "software-fallback"
	TraceID     string    `json:"trace_id,omitempty"`
	Environment string    `json:"environment"`
	HSMKey      string    `json:"hsm_key"`
	FallbackKey string    `json:"fallback_key"`
	Cause       string    `json:"cause"`  // hsm.Cause of the failed health check
	Class       string    `json:"class"`  // failure class of the health check
	Reason      string    `json:"reason"` // the health check's message
	Keyring     string    `json:"keyring"`
}

// HealthFunc checks that an HSM key can sign right now.
type HealthFunc func(ref keys.Ref) error

// CheckHSM is the HealthFunc for real tokens: PIN from pinFile, the URI's pin-source, or $PKCS11_PIN; then hsm.Check.
// A broken session (transient) is tried once more; the check runs through the token's breaker when set is not nil.
func CheckHSM(pinFile string, set *breaker.Set) HealthFunc { return CheckHSMSpelled(pinFile, nil, set) }

// CheckHSMSpelled is CheckHSM whose PIN errors name where the PIN came from in sp's words (a step's pinCredentialsId).
func CheckHSMSpelled(pinFile string, sp vocab.Spelling, set *breaker.Set) HealthFunc {
	check := checkHSM(pinFile, sp)
	return func(ref keys.Ref) error {
		dep := "hsm " + ref.Token
		return retry.Do(context.Background(), retry.Policy{Tries: 2, Initial: 100 * time.Millisecond, Max: time.Second}, dep, func(ctx context.Context) error {
			if set == nil {
				return check(ref)
			}
			return set.Do(ctx, dep, func(context.Context) error { return check(ref) })
		})
	}
}

func checkHSM(pinFile string, sp vocab.Spelling) HealthFunc {
	return func(ref keys.Ref) error {
		pin, from, err := keys.ReadPIN(ref, keys.LoadOptions{PINFile: pinFile, Spell: sp})
		if err != nil {
			return &hsm.HealthError{Cause: hsm.CausePIN, Err: err}
		}
		var label []byte
		if ref.Label != "" {
			label = []byte(ref.Label)
		}
		return hsm.Check(hsm.Config{ModulePath: ref.ModulePath, Token: ref.Token, Serial: ref.Serial, PIN: string(pin), PINFrom: from}, ref.ID, label)
	}
}

// Select returns env's current key, health-checking an HSM key first. When the check fails, a software key signs
// instead only if keys.yaml allows it for env (fail closed otherwise); the returned selection then carries the audit event.
func (f *File) Select(env string, now time.Time, traceID string, health HealthFunc) (Selection, error) {
	s, err := f.SigningKey(env, now)
	if err != nil {
		return Selection{}, err
	}
	if s.Ref.Scheme != keys.SchemePKCS11 || health == nil {
		return Selection{Signing: s}, nil
	}
	herr := health(s.Ref)
	if herr == nil {
		return Selection{Signing: s}, nil
	}
	if result.ClassOf(herr) == result.ClassInternal {
		herr = result.Wrap(result.ClassKey, herr)
	}
	if hsm.CauseOf(herr) == hsm.CausePIN {
		// A credential error is the user's to fix: a software key must not hide it, and each retry with the same
		// wrong PIN brings a real token closer to locking itself.
		return Selection{}, &hsm.HealthError{Cause: hsm.CausePIN, Err: result.Errorf(result.ClassAuth,
			"%s: environment %s: HSM key %s cannot sign: %v; no software fallback is tried for a PIN problem", f.path, env, s.Key.ID, herr)}
	}
	fb, err := f.Fallback(env, now, herr)
	if err != nil {
		if hsm.CauseOf(herr) != "" {
			return Selection{}, &hsm.HealthError{Cause: hsm.CauseOf(herr), Err: err}
		}
		return Selection{}, err
	}
	return Selection{Signing: fb, Fallback: &FallbackEvent{
		Time: now.UTC(), Event: "software-fallback", TraceID: traceID, Environment: env,
		HSMKey: s.Key.ID, FallbackKey: fb.Key.ID, Cause: string(hsm.CauseOf(herr)), Class: string(result.ClassOf(herr)),
		Reason: herr.Error(), Keyring: f.path,
	}}, nil
}

// AppendAudit appends ev as one JSON line to path (created 0600) in a single write.
func AppendAudit(path string, ev *FallbackEvent) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return result.Errorf(result.ClassInternal, "encoding audit record: %v", err)
	}
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return result.Errorf(result.ClassInput, "opening audit log %s: %v", path, err)
	}
	defer fh.Close()
	if _, err := fh.Write(append(b, '\n')); err != nil {
		return result.Errorf(result.ClassInput, "appending to audit log %s: %v", path, err)
	}
	if err := fh.Sync(); err != nil {
		return result.Errorf(result.ClassInput, "syncing audit log %s: %v", path, err)
	}
	return nil
}

// String renders the event for a progress line.
func (ev *FallbackEvent) String() string {
	return fmt.Sprintf("software fallback in %s: %s stands in for %s (HSM %s failure)", ev.Environment, ev.FallbackKey, ev.HSMKey, ev.Cause)
}
