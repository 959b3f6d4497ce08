package keyring

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

func TestConcurrentSignatureCountsAllLandInKeysYAML(t *testing.T) {
	p := fixture(t, time.Hour, 30*24*time.Hour, "")
	const calls = 24
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := CountSignatures(p, "k1", 2); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := f.Key("k1")
	if k.Signed != 2*calls {
		t.Fatalf("signatures = %d after %d concurrent calls adding 2, want %d: a count was lost", k.Signed, calls, 2*calls)
	}
}

func TestCountingUpToMaxSignaturesMakesTheKeyDueAndStopsItSigning(t *testing.T) {
	p := fixture(t, time.Hour, 30*24*time.Hour, "")
	f, _ := Load(p)
	f.Keys[0].Rotation.MaxSignatures = 3
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		add     int64
		want    int64
		due     bool
		signErr result.Class
	}{
		{"below the limit the key signs and is not due", 2, 2, false, ""},
		{"counting nothing changes nothing", 0, 2, false, ""},
		{"at the limit keys status flags it and signing is refused", 1, 3, true, result.ClassKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := CountSignatures(p, "k1", tc.add)
			if err != nil || n != tc.want {
				t.Fatalf("count = %d, %v; want %d", n, err, tc.want)
			}
			f, err := Load(p)
			if err != nil {
				t.Fatal(err)
			}
			st := f.Status(time.Now(), 0)[0]
			if st.NeedsAction != tc.due || (tc.due && !strings.Contains(st.Problem, "maxSignatures")) {
				t.Fatalf("status %+v, want due=%v", st, tc.due)
			}
			if _, err := f.SigningKey("prod", time.Now()); result.ClassOf(err) != tc.signErr {
				t.Fatalf("signing key: %v, want class %q", err, tc.signErr)
			}
		})
	}
}

func TestCountingAnUnknownKeyIsAConfigErrorAndLeavesTheFileAlone(t *testing.T) {
	p := fixture(t, time.Hour, 30*24*time.Hour, "")
	before, _ := Load(p)
	if _, err := CountSignatures(p, "nope", 1); result.ClassOf(err) != result.ClassConfig {
		t.Fatalf("want a config error, got %v", err)
	}
	after, _ := Load(p)
	if after.Keys[0].Signed != before.Keys[0].Signed {
		t.Fatal("the keyring changed")
	}
}
