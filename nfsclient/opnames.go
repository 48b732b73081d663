package nfsclient

import (
	"fmt"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
)

var opNames = map[nfsv4.NfsOpnum4]string{
	nfsv4.OP_ACCESS: "ACCESS", nfsv4.OP_CLOSE: "CLOSE", nfsv4.OP_COMMIT: "COMMIT",
	nfsv4.OP_CREATE: "CREATE", nfsv4.OP_GETATTR: "GETATTR", nfsv4.OP_GETFH: "GETFH",
	nfsv4.OP_LINK: "LINK", nfsv4.OP_LOCK: "LOCK", nfsv4.OP_LOCKT: "LOCKT", nfsv4.OP_LOCKU: "LOCKU",
	nfsv4.OP_LOOKUP: "LOOKUP", nfsv4.OP_LOOKUPP: "LOOKUPP", nfsv4.OP_OPEN: "OPEN",
	nfsv4.OP_OPEN_DOWNGRADE: "OPEN_DOWNGRADE", nfsv4.OP_PUTFH: "PUTFH", nfsv4.OP_PUTROOTFH: "PUTROOTFH",
	nfsv4.OP_READ: "READ", nfsv4.OP_READDIR: "READDIR", nfsv4.OP_READLINK: "READLINK",
	nfsv4.OP_REMOVE: "REMOVE", nfsv4.OP_RENAME: "RENAME", nfsv4.OP_RESTOREFH: "RESTOREFH",
	nfsv4.OP_SAVEFH: "SAVEFH", nfsv4.OP_SETATTR: "SETATTR", nfsv4.OP_WRITE: "WRITE",
	nfsv4.OP_SEQUENCE: "SEQUENCE", nfsv4.OP_EXCHANGE_ID: "EXCHANGE_ID",
	nfsv4.OP_CREATE_SESSION: "CREATE_SESSION", nfsv4.OP_DESTROY_SESSION: "DESTROY_SESSION",
	nfsv4.OP_DESTROY_CLIENTID: "DESTROY_CLIENTID", nfsv4.OP_RECLAIM_COMPLETE: "RECLAIM_COMPLETE",
	nfsv4.OP_BIND_CONN_TO_SESSION: "BIND_CONN_TO_SESSION", nfsv4.OP_FREE_STATEID: "FREE_STATEID",
	nfsv4.OP_TEST_STATEID: "TEST_STATEID", nfsv4.OP_RELEASE_LOCKOWNER: "RELEASE_LOCKOWNER",
}

func opName(op nfsv4.NfsOpnum4) string {
	if s, ok := opNames[op]; ok {
		return s
	}
	return fmt.Sprintf("OP_%d", op)
}
