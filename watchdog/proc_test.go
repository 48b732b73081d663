package watchdog

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TestProcessAliveReapsChild: once ProcessAlive says a child of ours is
// dead, it has also been reaped; no zombie stays behind. A child that
// exits between ProcessAlive's wait4 and its look at /proc used to be
// reported dead without being reaped (found in a UML guest: the watchdog
// kept a zombie of each tunnel it had restarted). Polling many short-lived
// children hits that window.
func TestProcessAliveReapsChild(t *testing.T) {
	for i := 0; i < 300; i++ {
		cmd := exec.Command("true")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := cmd.Process.Pid
		_ = cmd.Process.Release() // reaped by ProcessAlive, as the watchdog's tunnels are
		for ProcessAlive(pid) {
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			t.Fatalf("child %d reported dead but still in /proc (a zombie) after %d children", pid, i+1)
		}
	}
}

// TestReapChild: a child that exited is reaped (gone from /proc); a
// process that is not our child returns at once.
func TestReapChild(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	reapChild(pid, 5*time.Second)
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Fatalf("child %d still in /proc after reapChild", pid)
	}
	start := time.Now()
	reapChild(1, 5*time.Second) // init: not our child
	if el := time.Since(start); el > time.Second {
		t.Errorf("reapChild of a process that is not our child took %v", el)
	}
}
