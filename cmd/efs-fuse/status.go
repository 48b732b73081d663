package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/efs-fuse/efs-fuse/watchdog"
)

func newStatusCmd(deps *mountDeps) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [--json]",
		Short: "List efs-fuse mounts: mode, serving process, state, reconnects, last error",
		Long: `Lists the mounts recorded in the state directory (both FUSE and fallback
mode) with the process serving each one and whether it is alive, and a state:
  healthy       mounted, process alive (FUSE: NFS session connected)
  reconnecting  FUSE mode: the NFS connection is being re-established
  dead          mounted, but the serving process (or tunnel) is gone
  unmounted     no longer in the mount table (the watchdog cleans up)`,
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir := stateDir(deps)
			entries, err := watchdog.ListStates(dir)
			if err != nil {
				return err
			}
			mi, err := deps.ReadMountInfo()
			if err != nil {
				return fmt.Errorf("read mount table: %w", err)
			}
			st := watchdog.Collect(entries, watchdog.ParseMountInfo(mi), watchdog.ProcessRuns)
			running, pid := watchdog.Running(dir)
			if asJSON {
				return writeStatusJSON(deps.Stdout, st, running, pid)
			}
			writeStatus(deps.Stdout, st, dir, running, pid, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for machines")
	return cmd
}

func writeStatusJSON(w io.Writer, st []watchdog.MountStatus, running bool, pid int) error {
	if st == nil {
		st = []watchdog.MountStatus{} // [] rather than null
	}
	out := struct {
		Mounts   []watchdog.MountStatus `json:"mounts"`
		Watchdog struct {
			Running bool `json:"running"`
			PID     int  `json:"pid,omitempty"`
		} `json:"watchdog"`
	}{Mounts: st}
	out.Watchdog.Running, out.Watchdog.PID = running, pid
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}

func writeStatus(w io.Writer, st []watchdog.MountStatus, dir string, running bool, pid int, now time.Time) {
	if len(st) == 0 {
		fmt.Fprintf(w, "No efs-fuse mounts (no state files in %s).\n", dir)
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MOUNT POINT\tFILE SYSTEM\tMODE\tPID\tSTATE\tRECONNECTS\tLAST ERROR")
		for _, s := range st {
			if s.Error != "" {
				fmt.Fprintf(tw, "?\t?\t%s\t-\t%s\t-\t%s\n", s.Mode, s.State, oneLine(s.Error))
				continue
			}
			fsys := s.FSID
			if s.DNSName != "" {
				fsys += " (" + s.DNSName + ")"
			}
			proc := strconv.Itoa(s.PID) + " (dead)"
			if s.PIDAlive {
				proc = strconv.Itoa(s.PID) + " (alive)"
			}
			mode := s.Mode
			if s.Port > 0 {
				mode += ":" + strconv.Itoa(s.Port)
			}
			if s.Connections > 1 {
				mode += " x" + strconv.Itoa(s.Connections) // nconnect
			}
			lastErr := "-"
			if s.LastError != "" {
				lastErr = oneLine(s.LastError)
				if s.LastErrorTime != nil {
					lastErr += " (" + age(now.Sub(*s.LastErrorTime)) + " ago)"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.MountPoint, fsys, mode, proc, s.State, s.Reconnects, lastErr)
		}
		tw.Flush()
	}
	if running {
		fmt.Fprintf(w, "Watchdog: running (pid %d).\n", pid)
	} else {
		fmt.Fprintln(w, "Watchdog: not running (start it with: efs-fuse watchdog --detach).")
	}
}

// age is a duration for people: 45s, 12m, 3h, 2d.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(max(d, 0)/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
