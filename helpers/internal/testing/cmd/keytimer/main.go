// Command keytimer decrypts a cosign-format key file (scrypt + secretbox) with $COSIGN_PASSWORD and exits: the bench's scrypt limit.
package main

import (
	"fmt"
	"os"

	"github.com/release-gates/release-gates/helpers/internal/keys"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: keytimer KEY_FILE (password in $COSIGN_PASSWORD)")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err == nil {
		_, err = keys.DecryptPrivateKey(raw, []byte(os.Getenv(keys.PasswordEnv)), os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
