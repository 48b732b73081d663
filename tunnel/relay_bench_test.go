package tunnel

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/internal/testca"
)

// BenchmarkRelayThroughput moves the same bytes to and from the same TLS
// echo server twice per iteration: over a direct TLS connection (what FUSE
// mode does) and through the relay from a plain TCP client (what the kernel
// client does in fallback mode). It reports both rates and relay/direct.
//
//	go test -run '^$' -bench RelayThroughput -benchtime 20x ./tunnel
func BenchmarkRelayThroughput(b *testing.B) {
	ca, err := testca.LoadOrCreate(b.TempDir(), "bench CA")
	if err != nil {
		b.Fatal(err)
	}
	leaf, err := ca.Issue(testca.Leaf{DNSNames: []string{fsName}})
	if err != nil {
		b.Fatal(err)
	}
	srv := startEchoTLSServer(b, &tls.Config{Certificates: []tls.Certificate{leaf}})
	cfg := targetConfig(&fixture{ca: ca, caFile: ca.CertFile()}, srv.addr)
	d, err := NewDialer(cfg)
	if err != nil {
		b.Fatal(err)
	}
	r, err := ListenRelay("127.0.0.1:0", RelayConfig{Target: cfg, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })

	direct, err := d.DialContext(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer direct.Close()
	relayed, err := net.Dial("tcp", r.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer relayed.Close()

	const perIter = 16 << 20 // 16 one-MiB RPC records each way
	payload := make([]byte, 1<<20)
	var directDur, relayDur time.Duration
	b.ResetTimer()
	for range b.N {
		directDur += roundTrip(b, direct, payload, perIter)
		relayDur += roundTrip(b, relayed, payload, perIter)
	}
	b.StopTimer()
	mbps := func(d time.Duration) float64 { return float64(b.N) * 2 * perIter / 1e6 / d.Seconds() }
	b.ReportMetric(mbps(directDur), "direct-MB/s")
	b.ReportMetric(mbps(relayDur), "relay-MB/s")
	b.ReportMetric(mbps(relayDur)/mbps(directDur), "relay/direct")
	b.ReportMetric(0, "ns/op") // the two rates are the result; ns/op mixes both paths
}

// roundTrip writes total bytes in payload-sized records while reading the
// echo back concurrently, and returns how long the whole exchange took.
func roundTrip(b *testing.B, c net.Conn, payload []byte, total int) time.Duration {
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		for sent := 0; sent < total; sent += len(payload) {
			if _, err := c.Write(payload); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(io.Discard, io.LimitReader(struct{ io.Reader }{c}, int64(total)), buf); err != nil {
		b.Fatal(err)
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}
