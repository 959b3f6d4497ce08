// Package kubernetes holds the approval relay's Kubernetes manifests; its tests validate them offline with kubeconform.
package kubernetes
