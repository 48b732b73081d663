// Package bench is efs-fuse's benchmark harness: the same workloads run
// on several paths to the same data and are reported side by side, with
// every path's figure as a ratio to the FUSE path (as go-fuse measures
// itself beside libfuse in one harness, so the ratio comes from one run).
//
// The pieces, one concern per file:
//
//   - path.go: the Path and File interfaces every workload is written
//     against. path_os.go implements them with os calls on a directory
//     (the fuse, kernel and local paths); path_client.go with nfsclient
//     calls (the client and client-plain paths).
//   - workload.go: the workload table (name, description, unit,
//     parameters) and the registry; workloads_*.go: their bodies.
//   - setup.go: starting the local target, mounting FUSE, dialing the
//     client paths; runner.go: Run, which walks paths x workloads.
//   - hist.go: a fixed-size latency histogram (no per-op allocation, so
//     measuring does not distort what is measured).
//   - report.go, table.go, chart.go: the Report (JSON), the terminal
//     tables and the gonum/plot chart.
//
// Paths, from the application down:
//
//	fuse          efs-fuse mount (FUSE -> fusefs -> nfsclient -> TLS)
//	kernel        fallback mode: kernel NFS client -> efs-fuse tunnel (TLS)
//	client        nfsclient in-process over TLS: the ceiling of our stack
//	client-plain  nfsclient over plain TCP to ganesha: what TLS costs
//	local         the export directory itself: the server's ceiling
//
// Only cmd/efs-fuse imports this package.
package bench
