package localtarget

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// ONC RPC constants for the NULL probe (RFC 5531, RFC 8881 section 16).
const (
	nfsProgram   = 100003
	nfsVersion4  = 4
	rpcVersion   = 2
	msgCall      = 0
	msgReply     = 1
	replyAccept  = 0
	acceptOK     = 0
	lastFragment = 0x80000000
)

// nullPing sends an NFSv4 NULL call (procedure 0, AUTH_NONE) on conn and
// checks the reply is an accepted success for the same xid. It is a liveness
// probe only: just enough ONC RPC to prove an NFS server answers.
func nullPing(conn net.Conn, xid uint32, timeout time.Duration) error {
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("NULL ping: set deadline: %w", err)
	}
	defer conn.SetDeadline(time.Time{})
	if _, err := conn.Write(nullCall(xid)); err != nil {
		return fmt.Errorf("NULL ping: send: %w", err)
	}
	return readNullReply(conn, xid)
}

// nullCall encodes the 40-byte NULL call behind its record mark.
func nullCall(xid uint32) []byte {
	words := []uint32{
		lastFragment | 40,
		xid, msgCall, rpcVersion, nfsProgram, nfsVersion4, 0, // procedure 0 = NULL
		0, 0, // credential AUTH_NONE, empty body
		0, 0, // verifier AUTH_NONE, empty body
	}
	b := make([]byte, 4*len(words))
	for i, w := range words {
		binary.BigEndian.PutUint32(b[4*i:], w)
	}
	return b
}

func readNullReply(r io.Reader, xid uint32) error {
	var mark [4]byte
	if _, err := io.ReadFull(r, mark[:]); err != nil {
		return fmt.Errorf("NULL ping: read record mark: %w", err)
	}
	m := binary.BigEndian.Uint32(mark[:])
	n := m &^ lastFragment
	if m&lastFragment == 0 || n < 24 || n > 1024 {
		return fmt.Errorf("NULL ping: unexpected record mark %#x", m)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return fmt.Errorf("NULL ping: read reply: %w", err)
	}
	word := func(i int) uint32 { return binary.BigEndian.Uint32(body[4*i:]) }
	if got := word(0); got != xid {
		return fmt.Errorf("NULL ping: reply xid %#x, want %#x", got, xid)
	}
	if word(1) != msgReply || word(2) != replyAccept {
		return fmt.Errorf("NULL ping: not an accepted reply (msg_type %d, reply_stat %d)", word(1), word(2))
	}
	verfLen := (word(4) + 3) &^ 3
	statAt := 5 + int(verfLen/4)
	if 4*(statAt+1) > len(body) {
		return fmt.Errorf("NULL ping: reply too short (%d bytes)", len(body))
	}
	if st := word(statAt); st != acceptOK {
		return fmt.Errorf("NULL ping: accept_stat %d, want SUCCESS", st)
	}
	return nil
}
