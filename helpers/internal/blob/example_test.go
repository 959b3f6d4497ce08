package blob_test

import (
	"fmt"

	"github.com/release-gates/release-gates/helpers/internal/blob"
)

func ExampleChecksums() {
	arts := []blob.Artifact{
		{Path: "dist/app_linux_arm64.tar.gz", SHA256: "bb"},
		{Path: "dist/app_linux_amd64.tar.gz", SHA256: "aa"},
	}
	sums, _ := blob.Checksums(arts, "dist")
	fmt.Print(string(sums))
	// Output:
	// aa  app_linux_amd64.tar.gz
	// bb  app_linux_arm64.tar.gz
}
