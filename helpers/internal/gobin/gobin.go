package gobin

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"strings"

	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/vocab"
)

// Info is what a Go binary says about its own build.
type Info struct {
	Module      string `json:"module"`
	Version     string `json:"version,omitempty"`
	Revision    string `json:"vcs_revision,omitempty"`
	Modified    bool   `json:"vcs_modified"`
	GoVersion   string `json:"go_version"`
	BuildID     string `json:"build_id,omitempty"`
	GOOS        string `json:"goos,omitempty"`
	GOARCH      string `json:"goarch,omitempty"`
	HasVCSStamp bool   `json:"vcs_stamped"`
}

// Platform returns "GOOS/GOARCH".
func (i *Info) Platform() string { return i.GOOS + "/" + i.GOARCH }

// Inspect reads path's Go build info; ok is false when path is not a Go binary.
func Inspect(path string) (info *Info, ok bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, result.Errorf(result.ClassInput, "opening %s: %v", path, err)
	}
	defer f.Close()
	bi, err := buildinfo.Read(f)
	if err != nil {
		return nil, false, nil // not a Go binary (or stripped of build info): nothing to check
	}
	info = &Info{Module: bi.Main.Path, Version: bi.Main.Version, GoVersion: bi.GoVersion}
	for _, s := range bi.Settings {
		switch s.Key {
		case "GOOS":
			info.GOOS = s.Value
		case "GOARCH":
			info.GOARCH = s.Value
		case "vcs.revision":
			info.Revision = s.Value
			info.HasVCSStamp = true
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	info.BuildID = elfBuildID(f)
	return info, true, nil
}

// Options of the signing policy, as vocab spells them for the user.
const (
	OptAllowDirty     vocab.Option = "allow-dirty"
	OptExpectPlatform vocab.Option = "expect-platform"
)

// Check applies the signing policy: platform must equal expect ("os/arch", empty = any), and dirty builds need
// allowDirty; sp spells the options in the messages (nil: helper flags).
func (i *Info) Check(name, expect string, allowDirty bool, sp vocab.Spelling) error {
	if expect != "" {
		if i.GOOS == "" || i.GOARCH == "" {
			return result.Errorf(result.ClassRejected, "%s: no GOOS/GOARCH in its build info, expected %s (%s)", name, expect, vocab.Say(sp, OptExpectPlatform, expect))
		}
		if i.Platform() != expect {
			return result.Errorf(result.ClassRejected, "%s: built for %s, expected %s (%s): rebuild it for that platform", name, i.Platform(), expect, vocab.Say(sp, OptExpectPlatform, expect))
		}
	}
	if i.Modified && !allowDirty {
		return result.Errorf(result.ClassRejected, "%s: built from a dirty tree (vcs.modified=true at %s): commit the changes and rebuild, or sign it anyway with %s", name, shortRev(i.Revision), vocab.Say(sp, OptAllowDirty, true))
	}
	return nil
}

// ValidatePlatform checks an expected platform ("os/arch"); sp spells the option in the message (nil: the helper flag).
func ValidatePlatform(p string, sp vocab.Spelling) error {
	if p == "" {
		return nil
	}
	os, arch, ok := strings.Cut(p, "/")
	if !ok || os == "" || arch == "" || strings.Contains(arch, "/") {
		return result.Errorf(result.ClassInput, "%s is not os/arch: use e.g. linux/arm64", vocab.Say(sp, OptExpectPlatform, p))
	}
	return nil
}

func shortRev(r string) string {
	if len(r) > 12 {
		return r[:12]
	}
	if r == "" {
		return "unknown revision"
	}
	return r
}

// elfBuildID returns the Go build id from the ELF .note.go.buildid section, or "" for other formats.
func elfBuildID(f *os.File) string {
	ef, err := elf.NewFile(f)
	if err != nil {
		return ""
	}
	s := ef.Section(".note.go.buildid")
	if s == nil {
		return ""
	}
	data, err := s.Data()
	if err != nil || len(data) < 16 {
		return ""
	}
	bo := ef.ByteOrder
	nameSz, descSz, typ := bo.Uint32(data[0:]), bo.Uint32(data[4:]), bo.Uint32(data[8:])
	nameEnd := 12 + int(nameSz)
	descOff := 12 + (int(nameSz)+3)&^3
	if typ != 4 || nameSz != 4 || nameEnd > len(data) || !bytes.Equal(data[12:nameEnd], []byte("Go\x00\x00")) || descOff+int(descSz) > len(data) {
		return ""
	}
	return string(data[descOff : descOff+int(descSz)])
}
