package fusefs

import (
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/nfsclient"
)

func TestKnownNames(t *testing.T) {
	now := time.Now()
	var k knownNames
	if k.absent("a", now, time.Second) {
		t.Fatal("a directory never made here answered absent")
	}
	k.startEmpty(10, now)
	if !k.absent("a", now, time.Second) {
		t.Fatal("a directory made here just now does not know it is empty")
	}
	if k.absent("a", now, 0) {
		t.Error("absent with a zero entry timeout (noac)")
	}
	k.created("a", nfsclient.ChangeInfo{Before: 10, After: 11}, now.Add(900*time.Millisecond))
	if k.absent("a", now, time.Second) {
		t.Error("a name created here answered absent")
	}
	if !k.absent("b", now.Add(1800*time.Millisecond), time.Second) {
		t.Error("the create's confirmation did not keep the names fresh")
	}
	if k.absent("b", now.Add(2*time.Second), time.Second) {
		t.Error("names answered absent a whole entry timeout after their last confirmation")
	}
	k.created("b", nfsclient.ChangeInfo{Before: 12, After: 13}, now) // someone else changed it (11 -> 12)
	if k.absent("c", now, time.Second) {
		t.Error("names kept after a create saw another change")
	}
	k.startEmpty(20, now)
	k.forget()
	if k.absent("c", now, time.Second) {
		t.Error("names kept after forget")
	}
}
