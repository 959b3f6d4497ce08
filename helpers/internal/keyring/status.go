package keyring

import (
	"time"
)

// KeyStatus is one key's health as keys status reports it.
type KeyStatus struct {
	ID          string    `json:"id"`
	State       State     `json:"state"`
	CurrentFor  []string  `json:"current_for,omitempty"`
	NotAfter    time.Time `json:"not_after"`
	DaysLeft    int       `json:"days_left"`
	RotationDue time.Time `json:"rotation_due"`
	Signatures  int64     `json:"signatures,omitempty"`
	Problem     string    `json:"problem,omitempty"` // why a scheduled job should act; "" when fine
	NeedsAction bool      `json:"needs_action"`
}

// Status reports every key; an active key that is expired, expires within warn, or is due for rotation needs action.
// Deprecated, archived and revoked keys never sign, so they only need action when an environment still points at them.
func (f *File) Status(now time.Time, warn time.Duration) []KeyStatus {
	var out []KeyStatus
	for _, k := range f.Keys {
		st := KeyStatus{
			ID: k.ID, State: k.State, CurrentFor: f.CurrentFor(k.ID), NotAfter: k.NotAfter,
			DaysLeft:    int(k.NotAfter.Sub(now).Hours() / 24),
			RotationDue: k.NotBefore.Add(time.Duration(k.Rotation.MaxAge)),
			Signatures:  k.Signed,
		}
		if k.State == Active {
			switch {
			case !now.Before(k.NotAfter):
				st.Problem = "expired at " + k.NotAfter.UTC().Format(time.RFC3339) + ": run keys rotate"
			case k.NotAfter.Sub(now) <= warn:
				st.Problem = "expires at " + k.NotAfter.UTC().Format(time.RFC3339) + ", within the warning window: run keys rotate"
			case !now.Before(st.RotationDue):
				st.Problem = "older than rotation.maxAge (due " + st.RotationDue.UTC().Format(time.RFC3339) + "): run keys rotate"
			case k.Rotation.MaxSignatures > 0 && k.Signed >= k.Rotation.MaxSignatures:
				st.Problem = "reached rotation.maxSignatures: run keys rotate"
			case now.Before(k.NotBefore) && len(st.CurrentFor) > 0:
				st.Problem = "current but not valid before " + k.NotBefore.UTC().Format(time.RFC3339)
			}
		}
		st.NeedsAction = st.Problem != ""
		out = append(out, st)
	}
	return out
}
