// Package rbac loads rbac.yaml: Jenkins roles (rendered as Role Strategy JCasC) and Slack approval rules.
package rbac
