package fusefs

import (
	"os"
	"testing"
)

// BenchmarkProcGroups is the cost of reading a caller's groups, paid by
// every request now that they are not cached (cred.go).
func BenchmarkProcGroups(b *testing.B) {
	pid := uint32(os.Getpid())
	for b.Loop() {
		procGroups(pid)
	}
}
