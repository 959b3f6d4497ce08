package blob

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestTheNextRunRemovesTempSignaturesAKilledBatchLeftBehind(t *testing.T) {
	fk := cachedKey(t, "main", "pw")
	dir, files := writeBlobs(t, 2, 1<<10)
	// A signer killed between its temp write and its rename: its pid is gone.
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	cmd.Process.Kill()
	cmd.Wait()
	stale := []string{
		filepath.Join(dir, ".artifact-a.bin.sig.tmp-"+strconv.Itoa(dead)+"-4242"),
		filepath.Join(dir, ".artifact-b.bin.sig.tmp-1234567"), // written before temp names carried a pid
	}
	live := filepath.Join(dir, ".artifact-b.bin.sig.tmp-"+strconv.Itoa(os.Getpid())+"-77") // a writer still running
	for _, p := range append(stale, live) {
		if err := os.WriteFile(p, []byte("half a signat"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Sign(context.Background(), fk.loader("pw"), files, SignOptions{Parallel: 2}); err != nil {
		t.Fatal(err)
	}
	for _, p := range stale {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s is still there after the next run: %v", filepath.Base(p), err)
		}
	}
	if _, err := os.Stat(live); err != nil {
		t.Fatalf("a live writer's temp file was removed: %v", err)
	}
	if got := sigFiles(t, dir); len(got) != 3 { // two signatures and the live writer's temp file
		t.Fatalf("files now %q", got)
	}
}
