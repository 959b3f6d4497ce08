// Package params decodes the params document a step's Groovy runner writes and generates each step's schema and help page.
package params
