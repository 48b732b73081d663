// Package rpc is ONC RPC version 2 (RFC 5531) over a stream connection: record
// marking (RFC 5531 section 11), AUTH_SYS credentials and a Conn that keeps
// many calls in flight on one connection, routing replies by XID.
//
// The package knows nothing about NFS. It never retries: a call whose
// connection died fails with an error wrapping ErrConnClosed, and the caller
// (the NFSv4.1 session, which owns slots and sequence ids) decides whether to
// resend the same bytes on a new connection. That is why a call is sent as
// an already-encoded record: a resend is byte-identical by construction.
package rpc
