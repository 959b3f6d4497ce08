// Package policyexport turns the trust bundle into admission policies: a Kyverno ImageValidatingPolicy, the legacy Kyverno ClusterPolicy and policy-controller ClusterImagePolicies.
package policyexport
