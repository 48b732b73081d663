package rpc

import (
	"errors"
	"fmt"

	"github.com/buildbarn/go-xdr/pkg/protocols/rpcv2"
)

// ErrConnClosed is wrapped by every error of a call that could not complete
// because its connection ended. Whether the call ran on the server is
// unknown: only the caller's replay protection (NFSv4.1 slots) can tell.
var ErrConnClosed = errors.New("rpc: connection closed")

// ErrGarbledReply is wrapped by errors for replies that cannot be decoded.
var ErrGarbledReply = errors.New("rpc: garbled reply")

// ReplyError is a reply the server sent that is not a successful result: the
// call was denied or not accepted (RFC 5531 section 9).
type ReplyError struct {
	Denied     bool
	AcceptStat rpcv2.AcceptStat // valid when !Denied
	RejectStat rpcv2.RejectStat // valid when Denied
	AuthStat   rpcv2.AuthStat   // valid when Denied with AUTH_ERROR
	Low, High  uint32           // version range for mismatches
}

func (e *ReplyError) Error() string {
	if e.Denied {
		if e.RejectStat == rpcv2.AUTH_ERROR {
			return fmt.Sprintf("rpc: call denied: authentication error %d", e.AuthStat)
		}
		return fmt.Sprintf("rpc: call denied: RPC version mismatch (server supports %d-%d)", e.Low, e.High)
	}
	switch e.AcceptStat {
	case rpcv2.PROG_UNAVAIL:
		return "rpc: program unavailable"
	case rpcv2.PROG_MISMATCH:
		return fmt.Sprintf("rpc: program version mismatch (server supports %d-%d)", e.Low, e.High)
	case rpcv2.PROC_UNAVAIL:
		return "rpc: procedure unavailable"
	case rpcv2.GARBAGE_ARGS:
		return "rpc: server could not decode the arguments"
	case rpcv2.SYSTEM_ERR:
		return "rpc: server system error"
	}
	return fmt.Sprintf("rpc: call not accepted (status %d)", e.AcceptStat)
}

// closedError is a call's error when its connection ended: it wraps
// ErrConnClosed and keeps the cause (a read error, a TLS alert, an
// oversized record) out of the chain, so that errno mapping sees a closed
// connection and not the socket error behind it. ClosedBy reads it.
type closedError struct {
	msg   string
	cause error
}

func closed(cause error, format string, args ...any) error {
	return &closedError{msg: ErrConnClosed.Error() + ": " + fmt.Sprintf(format, args...), cause: cause}
}

func (e *closedError) Error() string { return e.msg }
func (e *closedError) Unwrap() error { return ErrConnClosed }

// ClosedBy returns what ended the connection that err's call failed on, or
// nil: a mount that fails at once tells the user why from it (a TLS
// alert, a server that does not speak RPC).
func ClosedBy(err error) error {
	var ce *closedError
	if errors.As(err, &ce) {
		return ce.cause
	}
	return nil
}
