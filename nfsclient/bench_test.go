package nfsclient_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/tunnel"
)

// BenchmarkSequentialIO measures 1 MiB READs and WRITEs of one file through
// the client, over TLS to the local target's front end and over plain TCP
// straight to ganesha, with 8 requests in flight as a read-ahead or
// write-behind window would keep. Compare the two with benchstat or by eye:
// the difference is what TLS (and the front end's relay) costs. Each also
// reports the CPU time it cost per MiB, this process's (client and front
// end) and ganesha's: on two busy cores that, not latency, sets the ratio.
func BenchmarkSequentialIO(b *testing.B) {
	export := b.TempDir()
	tgt := testtarget.Start(b, func(o *localtarget.Options) { o.ExportDir = export })
	cfg := tunnel.NewConfig(tgt.Addr(), tgt.ServerName())
	cfg.CAFile = tgt.CAFile()
	tlsDialer, err := tunnel.NewDialer(cfg)
	if err != nil {
		b.Fatal(err)
	}
	plain := func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", tgt.NFSAddr())
	}
	for _, tr := range []struct {
		name string
		dial func(context.Context) (net.Conn, error)
	}{{"TLS", tlsDialer.DialContext}, {"PlainTCP", plain}} {
		c := dial(b, tr.dial)
		ctx := context.Background()
		rootFH, _, err := c.LookupPath(ctx, root, "/")
		if err != nil {
			b.Fatal(err)
		}
		o, err := c.Open(ctx, root, nfsclient.OpenArgs{Dir: rootFH, Name: "bench-" + tr.name, Access: nfsclient.ShareBoth, Create: nfsclient.Unchecked})
		if err != nil {
			b.Fatal(err)
		}
		const chunk = 1 << 20
		const fileSize = 64 << 20 // offsets wrap within this, so the file stays in page cache
		data := make([]byte, chunk)
		for i := range data {
			data[i] = byte(i)
		}
		// Fill the file first so that neither transport pays for the
		// server allocating blocks, and ganesha is warm for both.
		for off := 0; off < fileSize; off += chunk {
			if _, err := c.Write(ctx, root, o.FH, o.Stateid, uint64(off), data, nfsclient.Unstable); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(tr.name+"/Write", func(b *testing.B) {
			var next atomic.Int64
			b.SetBytes(chunk)
			cpu := startCPU(tgt.GaneshaPID())
			defer func() { cpu.report(b, int64(b.N)*chunk) }()
			b.SetParallelism(4) // 8 in flight on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					off := (next.Add(1) * chunk) % fileSize
					if _, err := c.Write(ctx, root, o.FH, o.Stateid, uint64(off), data, nfsclient.Unstable); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		if _, err := c.Commit(ctx, root, o.FH, 0, 0); err != nil {
			b.Fatal(err)
		}
		b.Run(tr.name+"/Read", func(b *testing.B) {
			var next atomic.Int64
			b.SetBytes(chunk)
			cpu := startCPU(tgt.GaneshaPID())
			defer func() { cpu.report(b, int64(b.N)*chunk) }()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, chunk)
				for pb.Next() {
					off := (next.Add(1) * chunk) % fileSize
					if _, _, err := c.Read(ctx, root, o.FH, o.Stateid, uint64(off), buf); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		_ = c.CloseState(ctx, root, o.FH, o.Stateid)
	}
}
