// Package nfsclient is an NFSv4.1 client (RFC 8881) that runs entirely in
// user space over any stream connection, typically TLS to an EFS mount
// target.
//
// A Client owns one session: EXCHANGE_ID, CREATE_SESSION and
// RECLAIM_COMPLETE at Dial, a slot table sized by what the server grants,
// lease renewal while idle, and DESTROY_SESSION plus DESTROY_CLIENTID at
// Close. Every exported operation builds one COMPOUND that starts with
// SEQUENCE and returns typed results; callers never see slots, sequence ids
// or XDR.
//
// Every operation takes the rpc.Cred of the user it runs for and sends it as
// AUTH_SYS, so the server decides permissions exactly as it would for the
// kernel client.
//
// Errors: a failed operation returns *Error carrying the NFS status; its
// Errno method is the one mapping from NFS status to errno. Transport
// failures wrap rpc.ErrConnClosed.
//
// LOCK ORDERING: Client.mu (connection) and slotTable.mu are never held
// together and never across network I/O.
package nfsclient
