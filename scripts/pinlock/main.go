// Command pinlock pins a release's SHA256SUMS in helpers.lock (scripts/release.sh runs it with go run).
//
//	pinlock LOCK VERSION SHA256SUMS [BASE_URL]
//
// It rewrites only version, each helper's sha256 (and baseUrl when given), keeps the keys in their order and the
// file's layout (one line per platform), and replaces LOCK atomically. Exit codes: 0 pinned, 2 bad input (LOCK or
// SHA256SUMS unreadable or malformed, or LOCK names a build the release did not make; LOCK is then unchanged).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// member is one key of a JSON object with its value as written.
type member struct {
	key string
	val json.RawMessage
}

// object is a JSON object with its keys in file order.
type object []member

func (o object) get(key string) (json.RawMessage, bool) {
	for _, m := range o {
		if m.key == key {
			return m.val, true
		}
	}
	return nil, false
}

// set replaces key's value in place, or appends key when the object lacks it.
func (o *object) set(key string, val json.RawMessage) {
	for i := range *o {
		if (*o)[i].key == key {
			(*o)[i].val = val
			return
		}
	}
	*o = append(*o, member{key, val})
}

// parseObject reads a JSON object, keeping key order; duplicate keys are refused.
func parseObject(b []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var o object
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := t.(string) // inside an object the decoder only yields string keys
		if _, dup := o.get(key); dup {
			return nil, fmt.Errorf("key %q appears twice", key)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		o = append(o, member{key, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("text after the JSON object")
	}
	return o, nil
}

// quote encodes s as a JSON string without HTML escaping.
func quote(s string) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSpace(b.Bytes())
}

var sumLine = regexp.MustCompile(`^([0-9a-f]{64}) [ *]?(\S+)$`)

// readSums maps "helper platform" to the sha256 of dist/<helper>-<os>-<arch>, in SHA256SUMS order.
func readSums(path string) (keys []string, sums map[string]string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sums = map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		m := sumLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		parts := []string{}
		if m != nil {
			parts = strings.Split(m[2], "-")
		}
		if len(parts) < 3 {
			return nil, nil, fmt.Errorf("%s line %d is not '<sha256>  <helper>-<os>-<arch>': %q", path, n, sc.Text())
		}
		k := strings.Join(parts[:len(parts)-2], "-") + " " + parts[len(parts)-2] + "/" + parts[len(parts)-1]
		if _, dup := sums[k]; dup {
			return nil, nil, fmt.Errorf("%s lists %s twice", path, m[2])
		}
		keys = append(keys, k)
		sums[k] = m[1]
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	if len(keys) == 0 {
		return nil, nil, fmt.Errorf("%s lists no build", path)
	}
	return keys, sums, nil
}

func run(args []string, stderr io.Writer) int {
	if len(args) < 3 || len(args) > 4 {
		fmt.Fprintln(stderr, "pinlock: usage: pinlock LOCK VERSION SHA256SUMS [BASE_URL]")
		return 2
	}
	lockPath, version, sumsPath, baseURL := args[0], args[1], args[2], ""
	if len(args) == 4 {
		baseURL = args[3]
	}
	out, err := pin(lockPath, version, sumsPath, baseURL)
	if err == nil {
		err = writeAtomic(lockPath, out)
	}
	if err != nil {
		fmt.Fprintf(stderr, "pinlock: %v; %s is unchanged\n", err, lockPath)
		return 2
	}
	return 0
}

// pin returns the lock's new text.
func pin(lockPath, version, sumsPath, baseURL string) ([]byte, error) {
	b, err := os.ReadFile(lockPath)
	if err != nil {
		return nil, err
	}
	lock, err := parseObject(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", lockPath, err)
	}
	keys, sums, err := readSums(sumsPath)
	if err != nil {
		return nil, err
	}
	helpers := object{}
	if raw, ok := lock.get("helpers"); ok {
		if helpers, err = parseObject(raw); err != nil {
			return nil, fmt.Errorf("%s: helpers: %v", lockPath, err)
		}
	}
	platforms := map[string]object{}
	for _, h := range helpers {
		if platforms[h.key], err = parseObject(h.val); err != nil {
			return nil, fmt.Errorf("%s: helpers.%s: %v", lockPath, h.key, err)
		}
	}
	for _, k := range keys {
		helper, platform, _ := strings.Cut(k, " ")
		if _, ok := platforms[helper]; !ok {
			helpers = append(helpers, member{key: helper})
		}
		ps := platforms[helper]
		entry := object{}
		if raw, ok := ps.get(platform); ok {
			if entry, err = parseObject(raw); err != nil {
				return nil, fmt.Errorf("%s: helpers.%s.%s: %v", lockPath, helper, platform, err)
			}
		}
		entry.set("sha256", quote(sums[k]))
		ps.set(platform, compactObject(entry))
		platforms[helper] = ps
	}
	var stale []string
	for _, h := range helpers {
		for _, p := range platforms[h.key] {
			if _, ok := sums[h.key+" "+p.key]; !ok {
				stale = append(stale, h.key+" "+p.key)
			}
		}
	}
	if len(stale) > 0 {
		return nil, fmt.Errorf("%s names builds this release did not make: %s", lockPath, strings.Join(stale, ", "))
	}
	lock.set("version", quote(version))
	if baseURL != "" {
		lock.set("baseUrl", quote(baseURL))
	}
	lock.set("helpers", nil) // written below, from helpers and platforms
	return render(lock, helpers, platforms), nil
}

// compactObject writes o on one line as {"k": v, "k2": v2}.
func compactObject(o object) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteString(", ")
		}
		var v bytes.Buffer
		_ = json.Compact(&v, m.val) // m.val came from the decoder or quote: valid JSON
		fmt.Fprintf(&b, "%s: %s", quote(m.key), v.Bytes())
	}
	b.WriteByte('}')
	return b.Bytes()
}

// render writes the lock in its layout: two-space indent, one line per helper platform.
func render(lock, helpers object, platforms map[string]object) []byte {
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, m := range lock {
		comma := sep(i, len(lock))
		if m.key != "helpers" {
			var v bytes.Buffer
			_ = json.Indent(&v, m.val, "  ", "  ")
			fmt.Fprintf(&b, "  %s: %s%s\n", quote(m.key), v.Bytes(), comma)
			continue
		}
		b.WriteString("  \"helpers\": {\n")
		for j, h := range helpers {
			fmt.Fprintf(&b, "    %s: {\n", quote(h.key))
			ps := platforms[h.key]
			for l, p := range ps {
				fmt.Fprintf(&b, "      %s: %s%s\n", quote(p.key), p.val, sep(l, len(ps)))
			}
			fmt.Fprintf(&b, "    }%s\n", sep(j, len(helpers)))
		}
		fmt.Fprintf(&b, "  }%s\n", comma)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// writeAtomic replaces path with b through a synced temp file in its directory.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".helpers.lock.")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename there is nothing left to remove
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// sep is the comma after item i of n, none after the last.
func sep(i, n int) string {
	if i < n-1 {
		return ","
	}
	return ""
}
