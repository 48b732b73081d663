package mountstate

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// ProcessStart is pid's start time (clock ticks after boot, field 22 of
// /proc/PID/stat). With the pid it names one process for as long as the
// machine runs: a pid the kernel gives to another process later comes
// with another start time.
func ProcessStart(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("start time of process %d: %w", pid, err)
	}
	// The command name (field 2) may hold any byte: count from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("start time of process %d: /proc/%d/stat is malformed", pid, pid)
	}
	fields := bytes.Fields(b[i+1:])
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 {
		return 0, fmt.Errorf("start time of process %d: /proc/%d/stat is malformed", pid, pid)
	}
	start, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("start time of process %d: %w", pid, err)
	}
	return start, nil
}

// SameProcess reports whether pid still is the process that started at
// start. A state file without a start time (written before they were
// recorded) cannot be checked and never matches.
func SameProcess(pid int, start uint64) bool {
	if pid <= 0 || start == 0 {
		return false
	}
	got, err := ProcessStart(pid)
	return err == nil && got == start
}
