package image_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"math/big"
	"testing"

	"github.com/notaryproject/notation-plugin-framework-go/plugin"

	"github.com/release-gates/release-gates/helpers/internal/image"
)

func TestSignPluginReturnsRawSignaturesThatVerify(t *testing.T) {
	p := newPKI(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	payload := []byte(`{"targetArtifact":{"digest":"sha256:00"}}`)
	cases := []struct {
		name   string
		signer crypto.Signer
		spec   plugin.KeySpec
		hash   plugin.HashAlgorithm
		alg    plugin.SignatureAlgorithm
	}{
		{"ECDSA P-256 gives 64-byte r||s", p.LeafKey, plugin.KeySpecEC256, plugin.HashAlgorithmSHA256, plugin.SignatureAlgorithmECDSA_SHA256},
		{"ECDSA P-384 gives 96-byte r||s", p384, plugin.KeySpecEC384, plugin.HashAlgorithmSHA384, plugin.SignatureAlgorithmECDSA_SHA384},
		{"RSA 2048 gives RSASSA-PSS", rsaKey, plugin.KeySpecRSA2048, plugin.HashAlgorithmSHA256, plugin.SignatureAlgorithmRSASSA_PSS_SHA256},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := image.Key{Signer: opaqueSigner{tc.signer}, CertChain: []*x509.Certificate{p.Leaf, p.CA}, ID: "k1"}
			sp, err := image.NewSignPlugin(k)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			desc, err := sp.DescribeKey(ctx, &plugin.DescribeKeyRequest{KeyID: "k1"})
			if err != nil || desc.KeySpec != tc.spec {
				t.Fatalf("DescribeKey = %+v, %v; want %s", desc, err, tc.spec)
			}
			if _, err := sp.DescribeKey(ctx, &plugin.DescribeKeyRequest{KeyID: "other"}); err == nil {
				t.Fatal("DescribeKey accepted an unknown key id")
			}
			resp, err := sp.GenerateSignature(ctx, &plugin.GenerateSignatureRequest{KeyID: "k1", KeySpec: tc.spec, Hash: tc.hash, Payload: payload})
			if err != nil {
				t.Fatal(err)
			}
			if resp.SigningAlgorithm != tc.alg || len(resp.CertificateChain) != 2 || resp.KeyID != "k1" {
				t.Fatalf("response %+v", resp)
			}
			switch pub := tc.signer.Public().(type) {
			case *ecdsa.PublicKey:
				n := (pub.Curve.Params().BitSize + 7) / 8
				if len(resp.Signature) != 2*n {
					t.Fatalf("signature is %d bytes, want raw r||s of %d", len(resp.Signature), 2*n)
				}
				r, s := new(big.Int).SetBytes(resp.Signature[:n]), new(big.Int).SetBytes(resp.Signature[n:])
				var sum []byte
				if tc.hash == plugin.HashAlgorithmSHA384 {
					h := sha512.Sum384(payload)
					sum = h[:]
				} else {
					h := sha256.Sum256(payload)
					sum = h[:]
				}
				if !ecdsa.Verify(pub, sum, r, s) {
					t.Fatal("raw ECDSA signature does not verify")
				}
			case *rsa.PublicKey:
				h := sha256.Sum256(payload)
				if err := rsa.VerifyPSS(pub, crypto.SHA256, h[:], resp.Signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
					t.Fatalf("RSASSA-PSS signature does not verify: %v", err)
				}
			}
		})
	}
}

func TestSignPluginRefusesMismatchedRequests(t *testing.T) {
	p := newPKI(t)
	sp, err := image.NewSignPlugin(image.Key{Signer: p.LeafKey, CertChain: []*x509.Certificate{p.Leaf}, ID: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	for name, req := range map[string]*plugin.GenerateSignatureRequest{
		"an unknown key id": {KeyID: "k2", KeySpec: plugin.KeySpecEC256, Hash: plugin.HashAlgorithmSHA256},
		"another key spec":  {KeyID: "k1", KeySpec: plugin.KeySpecRSA2048, Hash: plugin.HashAlgorithmSHA256},
		"an unknown hash":   {KeyID: "k1", KeySpec: plugin.KeySpecEC256, Hash: "MD5"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := sp.GenerateSignature(context.Background(), req); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := image.NewSignPlugin(image.Key{Signer: p.LeafKey}); err == nil {
		t.Fatal("a key without a certificate chain was accepted")
	}
}
