// Command crdcheck validates a YAML file against an admission engine's CRD (helpers/internal/policyexport/crdcheck) for the demo.
//
//	crdcheck --crd policies.kyverno.io_imagevalidatingpolicies.yaml --version v1 --file policy.yaml
//
// --crd is a file name in the admission CRD dir (crdcheck.Dir above --from) or a path; it prints how many documents were valid
// and exits 1 when one is not (or none is of the CRD's kind), 2 on bad input.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/release-gates/release-gates/helpers/internal/policyexport/crdcheck"
)

func main() {
	crd := flag.String("crd", "", "CRD file: a name in the admission CRD dir, or a path")
	version := flag.String("version", "v1", "served CRD version to validate against")
	file := flag.String("file", "", "YAML file to validate")
	from := flag.String("from", ".", "look for shared/admission above this directory (crdcheck.Dir)")
	flag.Parse()
	if *crd == "" || *file == "" {
		fmt.Fprintln(os.Stderr, "crdcheck: --crd and --file are required")
		os.Exit(2)
	}
	path := *crd
	if _, err := os.Stat(path); err != nil {
		dir, derr := crdcheck.Dir(*from)
		if derr != nil {
			fmt.Fprintln(os.Stderr, "crdcheck:", derr)
			os.Exit(2)
		}
		path = filepath.Join(dir, *crd)
	}
	s, err := crdcheck.Load(path, *version)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crdcheck:", err)
		os.Exit(2)
	}
	b, err := os.ReadFile(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crdcheck:", err)
		os.Exit(2)
	}
	n, err := s.ValidateYAML(b)
	if err != nil {
		fmt.Fprintf(os.Stderr, "crdcheck: %s is not a valid %s %s: %v\n", *file, s.APIVersion, s.Kind, err)
		os.Exit(1)
	}
	fmt.Printf("%d %s %s document(s) valid against %s\n", n, s.APIVersion, s.Kind, filepath.Base(path))
}
