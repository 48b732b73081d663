package mountstate

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadFallback: a state file is user-writable input to the watchdog (a
// crash can leave half of one); reading any bytes must give a Fallback or an
// error naming the file, never a panic or a Fallback without its required
// fields.
func FuzzReadFallback(f *testing.F) {
	f.Add([]byte(`{"pid":123,"cmd":["efs-fuse","tunnel"],"mountpoint":"/mnt/efs","fsId":"fs-deadbeef","port":20049,"mode":"tunnel"}`))
	f.Add([]byte(`{"pid":-1}`))
	f.Add([]byte(`{"pid":1,"cmd":[],"mountpoint":""}`))
	f.Add([]byte(`not json`))
	f.Add([]byte(`{"pid":4294967295,"cmd":["efs-fuse","tunnel"],"mountpoint":"/mnt/efs"}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fs-deadbeef.mnt.efs.20049")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := ReadFallback(p)
		if err != nil {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if s.PID < 0 || s.MountPoint == "" || len(s.Cmd) == 0 {
			t.Fatalf("accepted a state without pid, cmd or mountpoint: %+v", s)
		}
		if s.PID > math.MaxInt32 {
			t.Fatalf("accepted pid %d, which kill(2) would truncate", s.PID)
		}
	})
}
