// Package policyexport turns the trust bundle into admission policies: a Kyverno ClusterPolicy and policy-controller ClusterImagePolicies.
package policyexport
