// Package result defines the helper-to-pipeline contract: exit codes, failure classes and the result file.
package result
