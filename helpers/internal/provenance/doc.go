// Package provenance builds SLSA v1 provenance and approval attestations, signs them as DSSE and attaches them as cosign does.
package provenance
