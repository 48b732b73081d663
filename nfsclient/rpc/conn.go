package rpc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// DefaultMaxRecord bounds the size of a reply record. NFSv4.1 replies are at
// most the session's max response size (about 1 MiB of data plus headers);
// anything much larger is a broken or hostile peer.
const DefaultMaxRecord = 4 << 20

// Options configure a Conn.
type Options struct {
	MaxRecord int         // largest reply record accepted; 0 = DefaultMaxRecord
	Logger    *zap.Logger // nil = no logging
}

// Reply is the outcome of one call: the reply record (without its mark) or
// the error that ended the wait.
type Reply struct {
	Record []byte
	Err    error
}

// Conn carries many concurrent calls over one stream connection.
//
// Ownership: Conn owns nc and one reader goroutine, which routes replies to
// callers by XID. Writes are serialised by wmu so that each record goes out
// whole; there is no writer goroutine because the TLS layer already buffers
// and a blocked write must hold back later writers anyway. Close closes nc,
// which ends the reader, which fails every pending call.
type Conn struct {
	nc  net.Conn
	max int
	log *zap.Logger

	wmu sync.Mutex // held for the duration of one record's Write

	mu      sync.Mutex // guards pending and err
	pending map[uint32]chan Reply
	err     error // why the connection ended; non-nil once it has

	done chan struct{} // closed when the reader has exited and pending is failed

	lastRecv atomic.Int64 // unix nanos of the last reply to a pending call
}

// NewConn takes ownership of nc and starts reading replies from it.
func NewConn(nc net.Conn, o Options) *Conn {
	if o.MaxRecord <= 0 {
		o.MaxRecord = DefaultMaxRecord
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	c := &Conn{
		nc:      nc,
		max:     o.MaxRecord,
		log:     o.Logger,
		pending: make(map[uint32]chan Reply),
		done:    make(chan struct{}),
	}
	c.lastRecv.Store(time.Now().UnixNano())
	go c.readLoop()
	return c
}

// LastReceive is when the last reply to a pending call arrived (or the
// Conn was made); records that answer nothing we asked do not count. A connection with calls pending and nothing received for long is
// stalled; the owner decides when to give up on it.
func (c *Conn) LastReceive() time.Time { return time.Unix(0, c.lastRecv.Load()) }

// Pending is the number of calls waiting for a reply.
func (c *Conn) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// Fail ends the connection with err as the cause (for example a
// heartbeat that went unanswered); pending calls fail with it.
func (c *Conn) Fail(err error) {
	c.fail(closed(err, "%v", err))
}

// Send writes an encoded call record (from Program.EncodeCall) and returns
// the channel on which its reply, or the connection's end, will arrive
// exactly once. The XID must not be pending on this Conn already.
func (c *Conn) Send(rec []byte) (<-chan Reply, error) {
	if len(rec) < MarkSize+8 {
		return nil, errors.New("rpc: call record too short")
	}
	xid := recordXID(rec)
	ch := make(chan Reply, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	if _, dup := c.pending[xid]; dup {
		c.mu.Unlock()
		return nil, fmt.Errorf("rpc: xid %#x already in flight", xid)
	}
	c.pending[xid] = ch
	c.mu.Unlock()

	c.wmu.Lock()
	_, err := c.nc.Write(rec)
	c.wmu.Unlock()
	if err != nil {
		// A partial write leaves the stream unusable: end the connection,
		// which fails this call and every other pending one alike.
		c.fail(closed(err, "write: %v", err))
	}
	return ch, nil
}

// Call sends rec and waits for its reply. If ctx ends first the call is
// forgotten (a late reply is dropped) and ctx's error returned. Callers that
// must keep track of abandoned calls (slot owners) use Send instead.
func (c *Conn) Call(ctx context.Context, rec []byte) ([]byte, error) {
	ch, err := c.Send(rec)
	if err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		_, results, err := ParseReply(r.Record)
		return results, err
	case <-ctx.Done():
		c.forget(recordXID(rec))
		return nil, ctx.Err()
	}
}

// forget drops a pending call whose caller stopped waiting.
func (c *Conn) forget(xid uint32) {
	c.mu.Lock()
	delete(c.pending, xid)
	c.mu.Unlock()
}

// Done is closed once the connection has ended and every pending call has
// been failed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the connection, fails pending calls with ErrConnClosed and
// waits for the reader goroutine to exit.
func (c *Conn) Close() error {
	c.fail(fmt.Errorf("%w: closed by client", ErrConnClosed))
	<-c.done
	return nil
}

// fail records the first cause of the connection's end and closes nc; the
// reader then notices and fails pending calls.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	_ = c.nc.Close()
}

func (c *Conn) readLoop() {
	defer close(c.done)
	rr := NewRecordReader(c.nc, c.max)
	for {
		rec, err := rr.ReadRecord()
		if err != nil {
			c.fail(closed(err, "read: %v", err))
			break
		}
		if len(rec) < 8 {
			c.fail(fmt.Errorf("%w: %d-byte record from server", ErrConnClosed, len(rec)))
			break
		}
		xid := binary.BigEndian.Uint32(rec)
		if mtype := binary.BigEndian.Uint32(rec[4:]); mtype != 1 {
			// A CALL on the fore channel: we never offered a back
			// channel, so this is a confused server. Drop it.
			c.log.Debug("dropping non-reply record", zap.Uint32("xid", xid), zap.Uint32("mtype", mtype))
			continue
		}
		c.mu.Lock()
		ch, ok := c.pending[xid]
		delete(c.pending, xid)
		c.mu.Unlock()
		if !ok {
			c.log.Debug("dropping reply for unknown xid", zap.Uint32("xid", xid))
			continue
		}
		// Only a reply to a call we are waiting for shows the server
		// serving us: a peer that sends junk (unknown XIDs, calls) must
		// not keep a stalled connection looking alive.
		c.lastRecv.Store(time.Now().UnixNano())
		ch <- Reply{Record: rec}
	}
	c.mu.Lock()
	err := c.err
	pending := c.pending
	c.pending = map[uint32]chan Reply{}
	c.mu.Unlock()
	for _, ch := range pending {
		ch <- Reply{Err: err}
	}
}
