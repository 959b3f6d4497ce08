// Package softhsmtest gives a test package its own SoftHSM2 token; SoftHSM reads its config once per library load.
package softhsmtest
