package image

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/notaryproject/notation-plugin-framework-go/plugin"

	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/version"
)

// SignPlugin is notation's remote-signing plugin contract served in-process by a crypto.Signer (e.g. a PKCS#11 key):
// notation-go's generic signer only takes in-memory keys. No plugin binary is involved.
type SignPlugin struct {
	key   Key
	keyID string
	spec  plugin.KeySpec
}

var _ plugin.SignPlugin = (*SignPlugin)(nil)

// NewSignPlugin returns a SignPlugin for k; k needs its certificate chain, leaf first.
func NewSignPlugin(k Key) (*SignPlugin, error) {
	if len(k.CertChain) == 0 {
		return nil, errf(result.ClassInput, "notation signing needs the key's certificate chain: pass --cert-chain")
	}
	spec, err := keySpec(k.Signer.Public())
	if err != nil {
		return nil, err
	}
	id := k.ID
	if id == "" {
		id = "release-gates-key"
	}
	return &SignPlugin{key: k, keyID: id, spec: spec}, nil
}

func keySpec(pub crypto.PublicKey) (plugin.KeySpec, error) {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		switch p.Curve.Params().BitSize {
		case 256:
			return plugin.KeySpecEC256, nil
		case 384:
			return plugin.KeySpecEC384, nil
		case 521:
			return plugin.KeySpecEC521, nil
		}
	case *rsa.PublicKey:
		switch p.N.BitLen() {
		case 2048:
			return plugin.KeySpecRSA2048, nil
		case 3072:
			return plugin.KeySpecRSA3072, nil
		case 4096:
			return plugin.KeySpecRSA4096, nil
		}
	}
	return "", errf(result.ClassKey, "key type %T is not usable for notation: use ECDSA P-256/384/521 or RSA 2048/3072/4096", pub)
}

// GetMetadata names the in-process plugin and says it generates raw signatures.
func (p *SignPlugin) GetMetadata(context.Context, *plugin.GetMetadataRequest) (*plugin.GetMetadataResponse, error) {
	return &plugin.GetMetadataResponse{
		Name:                      "release-gates",
		Description:               "in-process signer for keys notation-go cannot hold (PKCS#11)",
		Version:                   version.Version,
		URL:                       "https://github.com/release-gates/release-gates",
		SupportedContractVersions: []string{plugin.ContractVersion},
		Capabilities:              []plugin.Capability{plugin.CapabilitySignatureGenerator},
	}, nil
}

// DescribeKey returns the key spec of the one key this plugin holds.
func (p *SignPlugin) DescribeKey(_ context.Context, req *plugin.DescribeKeyRequest) (*plugin.DescribeKeyResponse, error) {
	if req.KeyID != p.keyID {
		return nil, fmt.Errorf("unknown key id %q", req.KeyID)
	}
	return &plugin.DescribeKeyResponse{KeyID: p.keyID, KeySpec: p.spec}, nil
}

// GenerateSignature hashes the payload with the requested algorithm and signs it:
// raw r||s for ECDSA (JWS and COSE need that, not ASN.1 DER), RSASSA-PSS for RSA.
func (p *SignPlugin) GenerateSignature(_ context.Context, req *plugin.GenerateSignatureRequest) (*plugin.GenerateSignatureResponse, error) {
	if req.KeyID != p.keyID {
		return nil, fmt.Errorf("unknown key id %q", req.KeyID)
	}
	if req.KeySpec != p.spec {
		return nil, fmt.Errorf("key spec %q requested, key is %q", req.KeySpec, p.spec)
	}
	var h crypto.Hash
	switch req.Hash {
	case plugin.HashAlgorithmSHA256:
		h = crypto.SHA256
	case plugin.HashAlgorithmSHA384:
		h = crypto.SHA384
	case plugin.HashAlgorithmSHA512:
		h = crypto.SHA512
	default:
		return nil, fmt.Errorf("unsupported hash algorithm %q", req.Hash)
	}
	hh := h.New()
	hh.Write(req.Payload)
	sum := hh.Sum(nil)
	var (
		sig []byte
		alg plugin.SignatureAlgorithm
		err error
	)
	switch pub := p.key.Signer.Public().(type) {
	case *ecdsa.PublicKey:
		der, serr := p.key.Signer.Sign(rand.Reader, sum, h)
		if serr != nil {
			return nil, serr
		}
		sig, err = rawECDSA(der, pub.Curve.Params().BitSize)
		alg = map[crypto.Hash]plugin.SignatureAlgorithm{crypto.SHA256: plugin.SignatureAlgorithmECDSA_SHA256, crypto.SHA384: plugin.SignatureAlgorithmECDSA_SHA384, crypto.SHA512: plugin.SignatureAlgorithmECDSA_SHA512}[h]
	case *rsa.PublicKey:
		sig, err = p.key.Signer.Sign(rand.Reader, sum, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h})
		alg = map[crypto.Hash]plugin.SignatureAlgorithm{crypto.SHA256: plugin.SignatureAlgorithmRSASSA_PSS_SHA256, crypto.SHA384: plugin.SignatureAlgorithmRSASSA_PSS_SHA384, crypto.SHA512: plugin.SignatureAlgorithmRSASSA_PSS_SHA512}[h]
	default:
		return nil, fmt.Errorf("unsupported key type %T", pub)
	}
	if err != nil {
		return nil, err
	}
	chain := make([][]byte, len(p.key.CertChain))
	for i, c := range p.key.CertChain {
		chain[i] = c.Raw
	}
	return &plugin.GenerateSignatureResponse{KeyID: p.keyID, Signature: sig, SigningAlgorithm: alg, CertificateChain: chain}, nil
}

// GenerateEnvelope is not offered: notation-go builds the envelope around GenerateSignature.
func (p *SignPlugin) GenerateEnvelope(context.Context, *plugin.GenerateEnvelopeRequest) (*plugin.GenerateEnvelopeResponse, error) {
	return nil, errors.New("envelope generation is not supported")
}

// rawECDSA converts an ASN.1 DER ECDSA signature to fixed-width r||s.
func rawECDSA(der []byte, curveBits int) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) != 0 || rs.R == nil || rs.S == nil {
		return nil, fmt.Errorf("key returned a malformed ECDSA signature")
	}
	n := (curveBits + 7) / 8
	if rs.R.BitLen() > curveBits || rs.S.BitLen() > curveBits {
		return nil, fmt.Errorf("ECDSA signature values exceed the curve size")
	}
	out := make([]byte, 2*n)
	rs.R.FillBytes(out[:n])
	rs.S.FillBytes(out[n:])
	return out, nil
}
