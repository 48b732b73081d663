package tlsbatch

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/efs-fuse/efs-fuse/internal/testca"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func pair(t *testing.T) (client *BatchedConn, server *BatchedConn, raw *countingConn) {
	t.Helper()
	ca, err := testca.New("tlsbatch test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(testca.Leaf{CommonName: "server", DNSNames: []string{"server"}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc := <-accepted
	if sc == nil {
		t.Fatal("accept failed")
	}
	raw = &countingConn{Conn: nc}
	client = Client(raw, &tls.Config{RootCAs: ca.Pool(), ServerName: "server"})
	server = Server(sc, &tls.Config{Certificates: []tls.Certificate{cert}})
	t.Cleanup(func() { client.Close(); server.Close() })
	errc := make(chan error, 1)
	go func() { errc <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return client, server, raw
}

// One 1 MiB Write is 64 TLS records; they must reach the socket in
// maxBatch-sized writes, intact and in order.
func TestWriteBatchesRecords(t *testing.T) {
	client, server, raw := pair(t)
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, len(data))
		_, _ = io.ReadFull(server, b)
		got <- b
	}()
	before := raw.writes.Load()
	if n, err := client.Write(data); err != nil || n != len(data) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if w := raw.writes.Load() - before; w > int64(len(data)/maxBatch+1) {
		t.Fatalf("1 MiB took %d socket writes, want <= %d", w, len(data)/maxBatch+1)
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatal("data corrupted on the way")
	}
}

// Concurrent Writes interleave whole Writes' records, never corrupting
// the stream; both directions keep working.
func TestConcurrentWrites(t *testing.T) {
	client, server, _ := pair(t)
	const writers, size = 8, 100 << 10
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := client.Write(bytes.Repeat([]byte{byte(i)}, size)); err != nil {
				t.Error(err)
			}
		}()
	}
	total := make([]byte, writers*size)
	if _, err := io.ReadFull(server, total); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	counts := map[byte]int{}
	for _, b := range total {
		counts[b]++
	}
	for i := range writers {
		if counts[byte(i)] != size {
			t.Fatalf("writer %d: %d bytes arrived, want %d", i, counts[byte(i)], size)
		}
	}
	if _, err := server.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(client, b); err != nil || string(b) != "pong" {
		t.Fatalf("reply %q, %v", b, err)
	}
}
