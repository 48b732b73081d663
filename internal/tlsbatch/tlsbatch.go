// Package tlsbatch makes crypto/tls write a whole Write's records to the
// socket at once.
package tlsbatch

import (
	"crypto/tls"
	"net"
	"sync"
)

// maxBatch bounds the bytes of TLS records gathered before a socket write.
// 256 KiB turns the 64 records of a 1 MiB RPC into four system calls.
const maxBatch = 256 << 10

// recordBatcher sits between a tls.Conn and its socket. crypto/tls writes
// each record (at most 16 KiB) with its own Write on the socket, so a 1 MiB
// NFS WRITE costs 64 system calls and, on loopback or a fast network, 64
// wake-ups of the peer; that, not AES-GCM, was most of the cost of TLS
// (docs/BENCHMARKING.md). While a Conn.Write is under way the records
// are gathered here and written together when it returns. Any other write
// (handshake, alerts, a TLS 1.3 KeyUpdate answer) passes straight through.
type recordBatcher struct {
	net.Conn

	mu      sync.Mutex
	writers int // BatchedConn.Writes under way; records are held while > 0
	buf     []byte
}

func (b *recordBatcher) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.writers == 0 {
		return b.Conn.Write(p)
	}
	if len(b.buf)+len(p) > maxBatch {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	// Copied: crypto/tls reuses its record buffer for the next record.
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *recordBatcher) begin() {
	b.mu.Lock()
	b.writers++
	b.mu.Unlock()
}

// end flushes what the finished Write gathered.
func (b *recordBatcher) end() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writers--
	return b.flushLocked()
}

func (b *recordBatcher) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.Conn.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// BatchedConn is a TLS connection whose Write hands the socket all its
// records at once (see recordBatcher). Everything else is *tls.Conn's.
type BatchedConn struct {
	*tls.Conn
	b *recordBatcher
}

// Write encrypts p and writes its records to the socket in as few system
// calls as maxBatch allows. A failed socket write breaks the stream, as it
// would for tls.Conn: the caller must close the connection.
func (c *BatchedConn) Write(p []byte) (int, error) {
	c.b.begin()
	n, err := c.Conn.Write(p)
	if ferr := c.b.end(); err == nil && ferr != nil {
		return 0, ferr
	}
	return n, err
}

// NetConn returns the socket under the TLS layer.
func (c *BatchedConn) NetConn() net.Conn { return c.b.Conn }

// Client is tls.Client with batched record writes.
func Client(raw net.Conn, cfg *tls.Config) *BatchedConn {
	b := &recordBatcher{Conn: raw}
	return &BatchedConn{Conn: tls.Client(b, cfg), b: b}
}

// Server is tls.Server with batched record writes.
func Server(raw net.Conn, cfg *tls.Config) *BatchedConn {
	b := &recordBatcher{Conn: raw}
	return &BatchedConn{Conn: tls.Server(b, cfg), b: b}
}
