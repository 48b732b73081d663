package fusefs_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestSQLiteTwoMounts runs SQLite (Debian's sqlite3, rollback journal,
// busy_timeout) with two writers through each of two mounts of one
// target, as two hosts sharing a database. SQLite is correct on NFS only
// if locks are coherence points: each writer reads the database after
// taking its lock, and a stale page there overwrites another's commit.
// Every committed row must be there and the database intact.
func TestSQLiteTwoMounts(t *testing.T) {
	if testing.Short() {
		t.Skip("500 transactions per writer")
	}
	a, b := mountTwo(t)
	checkSQLite(t, a.mnt, b.mnt, 500)
	if _, err := os.Stat(filepath.Join(a.export, "db-journal")); !os.IsNotExist(err) {
		t.Errorf("a journal is left behind: %v", err)
	}
}

// checkSQLite runs two writers of txns transactions through each of a and
// b on one database, then checks it through both.
func checkSQLite(t *testing.T, a, b string, txns int) {
	const writers = 4
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("sqlite3 not installed (apt-get install sqlite3; .ci/install-deps does)")
	}
	sqlite(t, filepath.Join(a, "db"), "PRAGMA journal_mode=DELETE; CREATE TABLE t(w INTEGER, i INTEGER, pad TEXT);")

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		mnt := []string{a, b}[w%2]
		var script strings.Builder
		script.WriteString(".bail on\n.timeout 60000\n")
		for i := range txns {
			// IMMEDIATE: take the write lock at BEGIN, so writers queue
			// on busy_timeout instead of failing to upgrade.
			fmt.Fprintf(&script, "BEGIN IMMEDIATE; INSERT INTO t VALUES (%d, %d, hex(randomblob(64))); COMMIT;\n", w, i)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("sqlite3", filepath.Join(mnt, "db"))
			cmd.Stdin = strings.NewReader(script.String())
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("writer %d: %v: %s", w, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, mnt := range []string{a, b} {
		if got := sqlite(t, filepath.Join(mnt, "db"), "PRAGMA integrity_check;"); got != "ok" {
			t.Errorf("integrity_check through %s: %s", mnt, got)
		}
		want := ""
		for w := range writers {
			want += fmt.Sprintf("%d|%d\n", w, txns)
		}
		if got := sqlite(t, filepath.Join(mnt, "db"), "SELECT w, count(DISTINCT i) FROM t GROUP BY w ORDER BY w;"); got != strings.TrimSpace(want) {
			t.Errorf("committed rows through %s (writer|rows):\n%s\nwant:\n%s", mnt, got, want)
		}
	}
}

// sqlite runs one sqlite3 command on db and returns its trimmed output.
func sqlite(t *testing.T, db, sql string) string {
	t.Helper()
	out, err := exec.Command("sqlite3", "-bail", "-cmd", ".timeout 60000", db, sql).CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3 %s %q: %v\n%s", db, sql, err, out)
	}
	return strings.TrimSpace(string(out))
}
