// Package keys parses key references (cosign key files, pkcs11: URIs) and loads them as crypto.Signers.
package keys
