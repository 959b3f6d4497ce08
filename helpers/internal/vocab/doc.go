// Package vocab spells an option the way its user writes it: a helper flag on the command line, a Jenkinsfile key in a step.
package vocab
