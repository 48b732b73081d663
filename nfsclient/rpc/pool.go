package rpc

import "sync"

// Records of poolMin bytes or more (1 MiB WRITE calls, READ replies) live
// in pooled buffers: a fresh 1 MiB buffer per call, zeroed and
// page-faulted in, was a tenth of the CPU of sequential I/O
// (BenchmarkSequentialIO). Both kinds are handed back explicitly
// (ReleaseCall, ReleaseRecord) once nothing refers to them; a buffer never
// handed back is simply garbage collected.
const (
	poolMin = 64 << 10
	poolCap = 1<<20 + 64<<10 // a 1 MiB READ or WRITE and its headers
)

var bufPool sync.Pool // of *[]byte with cap >= poolCap

// getBuffer returns a buffer of length n, pooled when n >= poolMin. Its
// contents are undefined.
func getBuffer(n int) []byte {
	if n < poolMin {
		return make([]byte, n)
	}
	if p, _ := bufPool.Get().(*[]byte); p != nil && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]byte, n, max(n, poolCap))
}

func putBuffer(b []byte) {
	if cap(b) >= poolCap {
		b = b[:0]
		bufPool.Put(&b)
	}
}

// ReleaseCall hands back a record made by Program.EncodeCall once it will
// not be sent (or resent) again. The caller must not touch rec afterwards.
func ReleaseCall(rec []byte) { putBuffer(rec) }

// ReleaseRecord hands back a record returned by RecordReader.ReadRecord
// (a Reply's Record) once nothing refers to it or to any slice of it.
func ReleaseRecord(rec []byte) { putBuffer(rec) }
