// Package e2e holds the end-to-end tests that run the production mount path
// (internal/fusemount: options, TLS, session, FUSE) against the local
// target and inject faults: cut connections, a black-holed server, a
// restarted server. They move hundreds of MiB, so `make test` runs this
// package without the race detector (every other package runs with it).
package e2e
