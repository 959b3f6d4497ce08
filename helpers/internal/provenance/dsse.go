package provenance

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/release-gates/release-gates/helpers/internal/ledger"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Envelope is a DSSE envelope, the format cosign stores attestations in.
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     string      `json:"payload"`
	Signatures  []Signature `json:"signatures"`
}

// Signature is one DSSE signature.
type Signature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// pae is DSSE's pre-authentication encoding of the payload.
func pae(payloadType string, payload []byte) []byte {
	return []byte(fmt.Sprintf("DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(payload), payload))
}

// Sign marshals statement and signs it as a DSSE envelope with s (any crypto.Signer: file key or PKCS#11).
func Sign(statement any, s crypto.Signer) ([]byte, error) {
	payload, err := json.Marshal(statement)
	if err != nil {
		return nil, result.Errorf(result.ClassInput, "encoding statement: %v", err)
	}
	sig, err := ledger.Sign(s, pae(PayloadType, payload))
	if err != nil {
		return nil, err
	}
	// keyid stays empty as cosign writes it; a keyid would have to match the verifier's, which cosign leaves empty.
	return json.Marshal(Envelope{PayloadType: PayloadType, Payload: base64.StdEncoding.EncodeToString(payload),
		Signatures: []Signature{{Sig: base64.StdEncoding.EncodeToString(sig)}}})
}

// Open verifies envelope with one of pubs and returns the statement's raw JSON and predicate type.
func Open(envelope []byte, pubs []crypto.PublicKey) ([]byte, string, error) {
	var env Envelope
	if err := json.Unmarshal(envelope, &env); err != nil {
		return nil, "", result.Errorf(result.ClassInput, "attestation is not a DSSE envelope: %v", err)
	}
	if env.PayloadType != PayloadType {
		return nil, "", result.Errorf(result.ClassTamper, "attestation payloadType %q, want %q", env.PayloadType, PayloadType)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, "", result.Errorf(result.ClassTamper, "attestation payload is not base64")
	}
	msg := pae(env.PayloadType, payload)
	for _, pub := range pubs {
		v, err := ledger.Verifier(pub)
		if err != nil {
			return nil, "", err
		}
		for _, s := range env.Signatures {
			raw, err := base64.StdEncoding.DecodeString(s.Sig)
			if err == nil && v.VerifySignature(bytes.NewReader(raw), bytes.NewReader(msg)) == nil {
				var head struct {
					PredicateType string `json:"predicateType"`
				}
				if err := json.Unmarshal(payload, &head); err != nil {
					return nil, "", result.Errorf(result.ClassTamper, "attestation statement is not JSON")
				}
				return payload, head.PredicateType, nil
			}
		}
	}
	return nil, "", result.Errorf(result.ClassTamper, "no attestation signature verifies with the release key(s)")
}
