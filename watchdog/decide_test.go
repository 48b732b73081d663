package watchdog

import (
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func testPolicy() Policy {
	return Policy{
		ProbeTimeout: 10 * time.Second, ProbeInterval: 5 * time.Second, StormWindow: time.Minute, StormAttempts: 3,
		BackoffBase: 30 * time.Second, BackoffMax: 10 * time.Minute,
		UnmountCount: 5, UnmountGrace: 30 * time.Second,
		HealthCheck: true, HealthInterval: 5 * time.Minute, HealthTimeout: 30 * time.Second,
	}
}

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func TestDecideFUSE(t *testing.T) {
	p := testPolicy()
	healthy := FUSEObservation{Now: at(1), PID: 7, Mounted: true, PIDAlive: true}
	inTrouble := FUSEState{Trouble: Trouble{Since: at(0), Cause: "x", LastAct: at(0), Restarts: 1}}
	tests := []struct {
		name      string
		s         FUSEState
		o         FUSEObservation
		act       Action
		probe     bool
		recovered time.Duration
	}{
		{"HealthyStartsProbe", FUSEState{}, healthy, ActNone, true, 0},
		{"NewMountNotProbedYet", FUSEState{}, with(healthy, func(o *FUSEObservation) { o.MountTime = at(-3) }), ActNone, false, 0},
		{"OlderMountProbedAtOnce", FUSEState{}, with(healthy, func(o *FUSEObservation) { o.MountTime = at(-4) }), ActNone, true, 0},
		{"ProbeNotDue", FUSEState{LastProbe: at(-3)}, healthy, ActNone, false, 0},
		{"ProbeDue", FUSEState{LastProbe: at(-4)}, healthy, ActNone, true, 0},
		{"ProbeInFlightWaits", FUSEState{}, with(healthy, func(o *FUSEObservation) { o.ProbeInFlight = true }), ActNone, false, 0},
		{"HungSignals", FUSEState{}, with(healthy, func(o *FUSEObservation) { o.Probe, o.ProbeInFlight = ProbeHung, true }), ActRestartSession, false, 0},
		{"HungSignalRateLimited", FUSEState{Trouble: Trouble{Since: at(0), LastAct: at(0)}},
			with(healthy, func(o *FUSEObservation) { o.Probe, o.ProbeInFlight = ProbeHung, true }), ActNone, false, 0},
		{"HungSignalAgainAfterTimeout", FUSEState{Trouble: Trouble{Since: at(0), LastAct: at(0)}},
			with(healthy, func(o *FUSEObservation) { o.Now, o.Probe, o.ProbeInFlight = at(10), ProbeHung, true }), ActRestartSession, false, 0},
		{"FailedSignals", FUSEState{}, with(healthy, func(o *FUSEObservation) { o.Probe, o.ProbeErr = ProbeFailed, "EIO" }), ActRestartSession, true, 0},
		{"NotConnectedRemounts", FUSEState{}, with(healthy, func(o *FUSEObservation) { o.Probe = ProbeNotConnected }), ActRemount, false, 0},
		{"DeadPIDRemounts", FUSEState{}, with(healthy, func(o *FUSEObservation) { o.PIDAlive = false }), ActRemount, false, 0},
		{"GoneRemovesState", FUSEState{}, with(healthy, func(o *FUSEObservation) { o.PIDAlive, o.Mounted = false, false }), ActRemoveState, false, 0},
		{"UnmountingWaits", FUSEState{}, with(healthy, func(o *FUSEObservation) { o.Mounted = false }), ActNone, false, 0},
		{"FailedRemountRetries", inTrouble, with(healthy, func(o *FUSEObservation) { o.Now, o.PIDAlive, o.Mounted = at(2), false, false }), ActRemount, false, 0},
		{"RecoveredAfterRemount", inTrouble, with(healthy, func(o *FUSEObservation) { o.Now, o.Probe = at(2.5), ProbeOK }), ActNone, true, 2500 * time.Millisecond},
		{"RecoveredNoNewProbeYet", with(inTrouble, func(s *FUSEState) { s.LastProbe = at(2) }), with(healthy, func(o *FUSEObservation) { o.Now, o.Probe = at(2.5), ProbeOK }), ActNone, false, 2500 * time.Millisecond},
		{"BackoffHoldsRemount", FUSEState{Backoff: Backoff{NotBefore: at(30)}}, with(healthy, func(o *FUSEObservation) { o.PIDAlive = false }), ActNone, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, d := DecideFUSE(tc.s, tc.o, p)
			if d.Action != tc.act || d.StartProbe != tc.probe || d.Recovered != tc.recovered {
				t.Errorf("got %v probe=%v recovered=%v (%q), want %v probe=%v recovered=%v",
					d.Action, d.StartProbe, d.Recovered, d.Cause, tc.act, tc.probe, tc.recovered)
			}
		})
	}
}

func with[T any](v T, f func(*T)) T {
	f(&v)
	return v
}

// TestRemountStorm: a daemon that dies again and again is remounted three
// times at once, then with growing waits, capped.
func TestRemountStorm(t *testing.T) {
	p := testPolicy()
	var s FUSEState
	var remounts []float64
	for sec := 0.0; sec < 1200; sec++ {
		var d Decision
		s, d = DecideFUSE(s, FUSEObservation{Now: at(sec), PID: 7, Mounted: true}, p)
		if d.Action == ActRemount {
			remounts = append(remounts, sec)
		}
	}
	want := []float64{0, 1, 2, 32, 92, 212, 452, 932}
	if len(remounts) != len(want) {
		t.Fatalf("remounts at %v, want %v", remounts, want)
	}
	for i := range want {
		if remounts[i] != want[i] {
			t.Fatalf("remounts at %v, want %v", remounts, want)
		}
	}
	// After a recovery the episode count resets, but the window still
	// remembers recent restarts (a daemon killed by OOM every few seconds).
	s = FUSEState{}
	for _, sec := range []float64{0, 5, 10} {
		var d Decision
		s, d = DecideFUSE(s, FUSEObservation{Now: at(sec), PID: 7, Mounted: true}, p)
		if d.Action != ActRemount {
			t.Fatalf("at %vs: %v, want remount", sec, d.Action)
		}
		s, _ = DecideFUSE(s, FUSEObservation{Now: at(sec + 1), PID: 8, Mounted: true, PIDAlive: true, Probe: ProbeOK}, p)
	}
	if _, d := DecideFUSE(s, FUSEObservation{Now: at(15), PID: 8, Mounted: true}, p); d.Action != ActNone {
		t.Fatalf("4th death in a minute: %v, want the backoff to hold it", d.Action)
	}
	if _, d := DecideFUSE(s, FUSEObservation{Now: at(41), PID: 8, Mounted: true}, p); d.Action != ActRemount {
		t.Fatalf("after the backoff: %v, want remount", d.Action)
	}
}

func TestDecideTunnelUnmount(t *testing.T) {
	p := testPolicy()
	mountTime := at(0)
	var s TunnelState
	var confirmed, stopped float64 = -1, -1
	// Mounted at 0, gone from the table from 10 s on, polled every second.
	for sec := 1.0; sec <= 100; sec++ {
		o := TunnelObservation{Now: at(sec), MountTime: mountTime, PID: 9, Mounted: sec < 10, PIDAlive: true, ProbeInFlight: true}
		var d Decision
		s, d = DecideTunnel(s, o, p)
		switch d.Action {
		case ActUnmountConfirmed:
			confirmed = sec
		case ActStopTunnel:
			if stopped < 0 {
				stopped = sec
			}
		case ActNone:
		default:
			t.Fatalf("at %vs: unexpected %v", sec, d.Action)
		}
	}
	// Missing from 10 s; > 5 polls is 15 s, but never within 30 s of the mount.
	if confirmed != 30 || stopped != 60 {
		t.Fatalf("confirmed at %v, stopped at %v; want 30 and 60", confirmed, stopped)
	}

	// Late mount: consistency count decides.
	s = TunnelState{}
	for sec := 100.0; sec <= 106; sec++ {
		var d Decision
		s, d = DecideTunnel(s, TunnelObservation{Now: at(sec), MountTime: mountTime, PID: 9, PIDAlive: true}, p)
		if (d.Action == ActUnmountConfirmed) != (sec == 105) {
			t.Fatalf("at %vs (missing %d): %v", sec, s.Missing, d.Action)
		}
	}
	// The mount comes back: counting starts over.
	s, _ = DecideTunnel(s, TunnelObservation{Now: at(107), MountTime: mountTime, PID: 9, Mounted: true, PIDAlive: true}, p)
	if s.Missing != 0 || !s.UnmountedAt.IsZero() {
		t.Fatalf("after the mount came back: %+v", s)
	}
}

func TestDecideTunnel(t *testing.T) {
	p := testPolicy()
	up := TunnelObservation{Now: at(100), MountTime: at(0), PID: 9, Mounted: true, PIDAlive: true}
	tests := []struct {
		name      string
		s         TunnelState
		o         TunnelObservation
		act       Action
		probe     bool
		recovered bool
	}{
		{"FirstHealthCheck", TunnelState{}, up, ActNone, true, false},
		{"NewMountNotCheckedYet", TunnelState{}, with(up, func(o *TunnelObservation) { o.MountTime = at(96) }), ActNone, false, false},
		{"HealthCheckNotDue", TunnelState{LastCheck: at(50)}, up, ActNone, false, false},
		{"HealthCheckDue", TunnelState{LastCheck: at(-200)}, up, ActNone, true, false},
		{"DeadTunnelRestarts", TunnelState{LastCheck: at(50)}, with(up, func(o *TunnelObservation) { o.PIDAlive = false }), ActRestartTunnel, false, false},
		{"HungTunnelKilled", TunnelState{LastCheck: at(50)}, with(up, func(o *TunnelObservation) { o.Probe, o.ProbeInFlight = ProbeHung, true }), ActKillTunnel, false, false},
		{"HungKillRateLimited", TunnelState{LastCheck: at(50), Trouble: Trouble{Since: at(90), LastAct: at(90)}},
			with(up, func(o *TunnelObservation) { o.Probe, o.ProbeInFlight = ProbeHung, true }), ActNone, false, false},
		{"RestartedTunnelAlive", TunnelState{LastCheck: at(50), Trouble: Trouble{Since: at(99), LastAct: at(99), ProcessGone: true, Restarts: 1}}, up, ActNone, false, true},
		{"HungRecoversOnProbe", TunnelState{LastCheck: at(50), Trouble: Trouble{Since: at(40), LastAct: at(40)}},
			with(up, func(o *TunnelObservation) { o.Probe = ProbeOK }), ActNone, false, true},
		{"DeadTunnelOfUnmountedNotRestarted", TunnelState{}, with(up, func(o *TunnelObservation) { o.Mounted, o.PIDAlive = false, false }), ActNone, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, d := DecideTunnel(tc.s, tc.o, p)
			if d.Action != tc.act || d.StartProbe != tc.probe || (d.Recovered > 0) != tc.recovered {
				t.Errorf("got %v probe=%v recovered=%v (%q)", d.Action, d.StartProbe, d.Recovered, d.Cause)
			}
		})
	}
	p.HealthCheck = false
	if _, d := DecideTunnel(TunnelState{}, up, p); d.StartProbe {
		t.Error("health check disabled, yet a probe was asked for")
	}
}

func TestDecideSweep(t *testing.T) {
	p := testPolicy()
	base := SweepObservation{Now: at(1000), MountTime: at(0), ModTime: at(0)}
	tests := []struct {
		name string
		o    SweepObservation
		act  Action
	}{
		{"OldTempReclaimed", with(base, func(o *SweepObservation) { o.Temp, o.Mode = true, ModeFallback }), ActStopTunnel},
		{"FreshTempKept", with(base, func(o *SweepObservation) { o.Temp, o.ModTime = true, at(990) }), ActNone},
		{"OrphanTunnel", with(base, func(o *SweepObservation) { o.Mode, o.PIDAlive = ModeFallback, true }), ActStopTunnel},
		{"StaleTunnelState", with(base, func(o *SweepObservation) { o.Mode = ModeFallback }), ActStopTunnel},
		{"NewTunnelInGrace", with(base, func(o *SweepObservation) { o.Mode, o.PIDAlive, o.MountTime = ModeFallback, true, at(990) }), ActNone},
		{"MountedTunnelKept", with(base, func(o *SweepObservation) { o.Mode, o.Mounted = ModeFallback, true }), ActNone},
		{"StaleFUSEState", with(base, func(o *SweepObservation) { o.Mode = ModeFUSE }), ActRemoveState},
		{"DeadFUSEDaemonLeftForRemount", with(base, func(o *SweepObservation) { o.Mode, o.Mounted = ModeFUSE, true }), ActNone},
		{"UnmountingFUSEKept", with(base, func(o *SweepObservation) { o.Mode, o.PIDAlive = ModeFUSE, true }), ActNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if act, cause := DecideSweep(tc.o, p); act != tc.act {
				t.Errorf("got %v (%q), want %v", act, cause, tc.act)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		mode                      string
		mounted, alive, connected bool
		want                      string
	}{
		{ModeFUSE, true, true, true, StateHealthy},
		{ModeFUSE, true, true, false, StateReconnecting},
		{ModeFUSE, true, false, true, StateDead},
		{ModeFUSE, false, false, true, StateUnmounted},
		{ModeFallback, true, true, false, StateHealthy},
		{ModeFallback, true, false, false, StateDead},
	}
	for _, tc := range tests {
		if got := Classify(tc.mode, tc.mounted, tc.alive, tc.connected); got != tc.want {
			t.Errorf("Classify(%+v) = %s", tc, got)
		}
	}
}
