package localtarget

import (
	"net"
	"time"
)

// Test-only access for the black-box tests in localtarget_test.

func GaneshaPID(t *Target) int { return t.current.Load().pid() }

func NullPing(conn net.Conn, xid uint32) error { return nullPing(conn, xid, 5*time.Second) }
