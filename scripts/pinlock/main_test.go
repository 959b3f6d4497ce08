package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// sumsFor writes a SHA256SUMS listing each "helper-os-arch" file with a digest derived from its name.
func sumsFor(t *testing.T, dir string, files ...string) string {
	t.Helper()
	var b strings.Builder
	for _, f := range files {
		b.WriteString(digest(f) + "  " + f + "\n")
	}
	p := filepath.Join(dir, "SHA256SUMS")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeLock(t *testing.T, dir, text string) string {
	t.Helper()
	p := filepath.Join(dir, "helpers.lock")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runPin(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stderr strings.Builder
	return run(args, &stderr), stderr.String()
}

// noTempFiles fails when pinlock left anything but the lock and SHA256SUMS in dir.
func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Name() != "helpers.lock" && e.Name() != "SHA256SUMS" {
			t.Errorf("left %s behind", e.Name())
		}
	}
}

func TestItPinsTheRepositorysLockKeepingItsLayout(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join("..", "..", "resources", "helpers.lock"))
	if err != nil {
		t.Fatal(err)
	}
	var before struct {
		Helpers map[string]map[string]any `json:"helpers"`
	}
	if err := json.Unmarshal(orig, &before); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var files []string
	for h, ps := range before.Helpers {
		for p := range ps {
			files = append(files, h+"-"+strings.ReplaceAll(p, "/", "-"))
		}
	}
	lock := writeLock(t, dir, string(orig))
	if code, stderr := runPin(t, lock, "v9.8.7-rc.1", sumsFor(t, dir, files...)); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, _ := os.ReadFile(lock)
	var after struct {
		Version string                                  `json:"version"`
		Helpers map[string]map[string]map[string]string `json:"helpers"`
	}
	if err := json.Unmarshal(got, &after); err != nil {
		t.Fatalf("the pinned lock is not JSON: %v\n%s", err, got)
	}
	if after.Version != "v9.8.7-rc.1" {
		t.Errorf("version %q", after.Version)
	}
	for h, ps := range after.Helpers {
		for p, e := range ps {
			if want := digest(h + "-" + strings.ReplaceAll(p, "/", "-")); e["sha256"] != want {
				t.Errorf("%s %s: sha256 %q, want %q", h, p, e["sha256"], want)
			}
		}
	}
	// Only the values changed: masked, the text is byte for byte the committed file.
	mask := func(b []byte) string {
		s := regexp.MustCompile(`"sha256": "[^"]*"`).ReplaceAllString(string(b), `"sha256": X`)
		return regexp.MustCompile(`"version": "[^"]*"`).ReplaceAllString(s, `"version": X`)
	}
	if mask(got) != mask(orig) {
		t.Errorf("the layout changed:\n%s\nwas:\n%s", got, orig)
	}
	noTempFiles(t, dir)
}

func TestItKeepsOtherKeysInOrderAndSetsBaseURL(t *testing.T) {
	dir := t.TempDir()
	lock := writeLock(t, dir, `{"comment": ["a", {"b": 1}], "version": "v0.1.0", "helpers": {
  "x": {"linux/amd64": {"size": 5, "sha256": "old"}}}, "url&more": "<kept>"}`)
	sums := sumsFor(t, dir, "x-linux-amd64", "new-helper-linux-arm64")
	if code, stderr := runPin(t, lock, "v1.0.0", sums, "https://example.com/dl"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, _ := os.ReadFile(lock)
	want := `{
  "comment": [
    "a",
    {
      "b": 1
    }
  ],
  "version": "v1.0.0",
  "helpers": {
    "x": {
      "linux/amd64": {"size": 5, "sha256": "` + digest("x-linux-amd64") + `"}
    },
    "new-helper": {
      "linux/arm64": {"sha256": "` + digest("new-helper-linux-arm64") + `"}
    }
  },
  "url&more": "<kept>",
  "baseUrl": "https://example.com/dl"
}
`
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if fi, err := os.Stat(lock); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("lock mode: %v %v", fi.Mode(), err)
	}
}

func TestItRefusesBadInputAndLeavesTheLockUnchanged(t *testing.T) {
	good := `{"version": "v0.1.0", "helpers": {"x": {"linux/amd64": {"sha256": "unset"}, "linux/arm64": {"sha256": "unset"}}}}`
	tests := []struct {
		name, lock, sums, want string
	}{
		{"the lock names a build the release did not make", good, digest("a") + "  x-linux-amd64\n", "names builds this release did not make: x linux/arm64"},
		{"the lock is not JSON", `{"version": `, digest("a") + "  x-linux-amd64\n", "helpers.lock"},
		{"the lock has a key twice", `{"version": "a", "version": "b", "helpers": {}}`, digest("a") + "  x-linux-amd64\n", `key "version" appears twice`},
		{"the lock is not an object", `[1]`, digest("a") + "  x-linux-amd64\n", "not a JSON object"},
		{"a helper entry is not an object", `{"helpers": {"x": "y"}}`, digest("a") + "  x-linux-amd64\n", "helpers.x: not a JSON object"},
		{"a SHA256SUMS line has no platform", good, digest("a") + "  x\n", "is not '<sha256>  <helper>-<os>-<arch>'"},
		{"a SHA256SUMS line has no digest", good, "unset  x-linux-amd64\n", "is not '<sha256>  <helper>-<os>-<arch>'"},
		{"SHA256SUMS lists a file twice", good, digest("a") + "  x-linux-amd64\n" + digest("b") + "  x-linux-amd64\n", "lists x-linux-amd64 twice"},
		{"SHA256SUMS is empty", good, "", "lists no build"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			lock := writeLock(t, dir, tt.lock)
			sums := filepath.Join(dir, "SHA256SUMS")
			os.WriteFile(sums, []byte(tt.sums), 0o644)
			code, stderr := runPin(t, lock, "v1.0.0", sums)
			if code != 2 || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "is unchanged") {
				t.Errorf("exit %d, want 2 with %q:\n%s", code, tt.want, stderr)
			}
			if b, _ := os.ReadFile(lock); string(b) != tt.lock {
				t.Errorf("the lock changed:\n%s", b)
			}
			noTempFiles(t, dir)
		})
	}
	t.Run("usage", func(t *testing.T) {
		if code, stderr := runPin(t, "only-one"); code != 2 || !strings.Contains(stderr, "usage") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
}
