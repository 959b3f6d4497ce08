package blob

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Expand resolves file names and globs to a sorted, de-duplicated list of regular files.
// A glob that matches nothing, a missing file or a directory is an input error. Files a glob
// matches whose names end in one of skipSuffixes (earlier signatures) or equal skipNames are left out.
func Expand(args []string, skipSuffixes, skipNames []string) ([]string, error) {
	if len(args) == 0 {
		return nil, result.Errorf(result.ClassInput, "no files given: pass FILE or GLOB arguments")
	}
	seen := map[string]bool{}
	var out []string
	add := func(p string) error {
		st, err := os.Stat(p)
		if err != nil {
			return result.Errorf(result.ClassInput, "%s: %v", p, unwrap(err))
		}
		if !st.Mode().IsRegular() {
			return result.Errorf(result.ClassInput, "%s is not a regular file", p)
		}
		clean := filepath.Clean(p)
		if !seen[clean] {
			seen[clean] = true
			out = append(out, clean)
		}
		return nil
	}
	for _, a := range args {
		if !strings.ContainsAny(a, "*?[") {
			if err := add(a); err != nil {
				return nil, err
			}
			continue
		}
		matches, err := filepath.Glob(a)
		if err != nil {
			return nil, result.Errorf(result.ClassInput, "bad glob %q: %v", a, err)
		}
		n := 0
		for _, m := range matches {
			if skipped(m, skipSuffixes, skipNames) {
				continue
			}
			if st, err := os.Stat(m); err == nil && st.IsDir() {
				continue
			}
			if err := add(m); err != nil {
				return nil, err
			}
			n++
		}
		if n == 0 {
			return nil, result.Errorf(result.ClassInput, "glob %q matched no files: check the path and that the build produced them", a)
		}
	}
	sort.Strings(out)
	return out, nil
}

func skipped(p string, suffixes, names []string) bool {
	base := filepath.Base(p)
	if strings.HasPrefix(base, ".") && strings.Contains(base, ".tmp-") {
		return true // an atomicfile temp file
	}
	for _, s := range suffixes {
		if s != "" && strings.HasSuffix(base, s) {
			return true
		}
	}
	for _, n := range names {
		if n != "" && base == filepath.Base(n) {
			return true
		}
	}
	return false
}

func unwrap(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
