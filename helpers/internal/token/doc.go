// Package token signs and verifies the HMAC-SHA256 expiring tokens carried in Slack button values.
package token
