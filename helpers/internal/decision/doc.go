// Package decision builds, signs and verifies the relay's decision record as a DSSE envelope (ECDSA P-256).
//
// DSSE (github.com/secure-systems-lab/dsse, protocol.md): the signature covers
// PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, with LEN as ASCII decimal; the envelope
// is {"payloadType", "payload" (base64), "signatures": [{"keyid", "sig" (base64 ASN.1 DER)}]}.
package decision
