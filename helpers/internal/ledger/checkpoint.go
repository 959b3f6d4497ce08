package ledger

import (
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// CheckpointPredicateType is the in-toto predicate type of a ledger checkpoint attached to a release.
const CheckpointPredicateType = "https://release-gates.dev/ledger-checkpoint/v1"

// Checkpoint says where a release's ledger stood once attestRelease had recorded it: signed with the release key
// and attached to the image, it lets verify refuse a ledger cut, reordered or replaced up to that point.
type Checkpoint struct {
	Ledger      string    `json:"ledger"`  // hash of the ledger's first record: which chain
	Records     int       `json:"records"` // records in the ledger at the checkpoint
	Head        string    `json:"head"`    // hash of record Records
	Release     RecordRef `json:"release"` // this release's last record in the ledger
	Environment string    `json:"environment,omitempty"`
	TraceID     string    `json:"traceId"`
	AuditKeyID  string    `json:"auditKeyId"` // the key that signed the records
}

// RecordRef names one ledger record by position and hash.
type RecordRef struct {
	Seq  int    `json:"seq"`
	Hash string `json:"hash"`
}

// NewCheckpoint returns the checkpoint of the verified chain rep at record upTo, naming release as this release's record.
func NewCheckpoint(rep Report, upTo, release Entry, env, traceID string) (Checkpoint, error) {
	if upTo.Seq < 1 || upTo.Seq > len(rep.Entries) || rep.Entries[upTo.Seq-1].Hash != upTo.Hash {
		return Checkpoint{}, result.Errorf(result.ClassInternal, "ledger checkpoint: record %d is not in the verified chain", upTo.Seq)
	}
	return Checkpoint{Ledger: rep.Entries[0].Hash, Records: upTo.Seq, Head: upTo.Hash, Release: RecordRef{Seq: release.Seq, Hash: release.Hash},
		Environment: env, TraceID: traceID, AuditKeyID: upTo.KeyID}, nil
}

// Holds checks that the verified chain rep still holds the checkpoint: record c.Records has hash c.Head (records
// appended after it are fine). Anything else is ClassTamper naming the expected and the actual head.
func (c Checkpoint) Holds(rep Report, name string) error {
	if c.Records < 1 || len(rep.Entries) != rep.Records {
		return result.Errorf(result.ClassTamper, "ledger %s: the checkpoint names no record (records %d)", name, c.Records)
	}
	if rep.Records < c.Records {
		return result.Errorf(result.ClassTamper, "ledger %s has %d record(s) with head %s, but the release's checkpoint says record %d has head %s: records were cut off the end",
			name, rep.Records, rep.Head, c.Records, c.Head)
	}
	if got := rep.Entries[c.Records-1]; got.Hash != c.Head {
		return result.Errorf(result.ClassTamper, "ledger %s: the head at record %d is %s, but the release's checkpoint says %s (records were cut, reordered or replaced)",
			name, c.Records, got.Hash, c.Head)
	}
	if r := c.Release; r.Seq > 0 && (r.Seq > c.Records || rep.Entries[r.Seq-1].Hash != r.Hash) {
		return result.Errorf(result.ClassTamper, "ledger %s: the release's record %d is not the one its checkpoint names (%s)", name, r.Seq, r.Hash)
	}
	return nil
}
