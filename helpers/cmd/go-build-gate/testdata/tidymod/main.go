// Command tidymod is a tiny module with one dependency, for the go.mod/go.sum tidiness tests.
package main

import (
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
)

func main() {
	b := backoff.NewExponentialBackOff()
	fmt.Println(b.InitialInterval > time.Duration(0))
}
