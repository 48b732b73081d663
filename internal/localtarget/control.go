package localtarget

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// ControlSocketName is the control socket of a running target, in its state
// directory. `efs-fuse local-target fault` talks to it.
const ControlSocketName = "control.sock"

// ControlUsage lists the control commands.
const ControlUsage = `blackhole DURATION        silence all client traffic for DURATION (bytes held, not dropped)
delay LATENCY DURATION    add LATENCY to every chunk each way for DURATION
heal                      end any black hole or delay now
cut                       close every client connection
calls                     the RPC calls relayed to ganesha so far (all connections; no fault)
restart [--grace] [--kill] restart ganesha on the same port (--grace: clients must reclaim; --kill: SIGKILL)`

// controlTimeout bounds one command; a restart takes well under a second
// here, the bound is for ganesha failing to come back.
const controlTimeout = 60 * time.Second

// ControlServer answers fault commands for a Target on a unix socket: one
// command line per connection, one reply line ("ok ..." or "error ...").
type ControlServer struct {
	t    *Target
	ln   net.Listener
	path string
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup // the accept loop and each connection's goroutine
}

// ServeControl listens on StateDir/control.sock, mode 0600 (it can cut,
// black-hole and restart the target, so only its owner may use it).
func (t *Target) ServeControl() (*ControlServer, error) {
	path := filepath.Join(t.opts.StateDir, ControlSocketName)
	// A socket left by a target that died; the state dir is ours alone
	// (a second target on it would already have failed on its ports).
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("local target: remove stale control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("local target: control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("local target: control socket: %w", err)
	}
	s := &ControlServer{t: t, ln: ln, path: path}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Path is the socket's file name.
func (s *ControlServer) Path() string { return s.path }

// Close stops listening, interrupts commands in progress and waits for them.
func (s *ControlServer) Close() error {
	s.stop()
	err := s.ln.Close()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (s *ControlServer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				s.t.log.Error("control socket accept failed; no longer accepting", zap.Error(err))
			}
			return
		}
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *ControlServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	// Close must not wait on a silent client.
	stop := context.AfterFunc(s.ctx, func() { c.Close() })
	defer stop()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(c, 4096)).ReadString('\n')
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, controlTimeout)
	defer cancel()
	reply, err := s.t.runControl(ctx, strings.Fields(line))
	if err != nil {
		reply = "error " + strings.ReplaceAll(err.Error(), "\n", " ")
		s.t.log.Warn("control command failed", zap.String("command", strings.TrimSpace(line)), zap.Error(err))
	} else {
		reply = "ok " + reply
	}
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, reply+"\n")
}

// controlCommand is one parsed control command line.
type controlCommand struct {
	name      string          // blackhole, delay, heal, cut or restart
	durations []time.Duration // blackhole: 1, delay: 2 (latency, duration); all > 0
	restart   RestartOptions
}

// CheckControl reports what is wrong with a command line before it is
// sent (an unknown command names them all), or nil.
func CheckControl(args []string) error {
	_, err := parseControl(args)
	return err
}

// parseControl reads one command's fields (see ControlUsage).
func parseControl(args []string) (controlCommand, error) {
	if len(args) == 0 {
		return controlCommand{}, errors.New("empty command")
	}
	c := controlCommand{name: args[0]}
	durations := func(n int) ([]time.Duration, error) {
		if len(args) != n+1 {
			return nil, fmt.Errorf("%s takes %d duration(s)", args[0], n)
		}
		ds := make([]time.Duration, n)
		for i := range ds {
			d, err := time.ParseDuration(args[i+1])
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("%s: bad duration %q (want e.g. 200ms, 20s)", args[0], args[i+1])
			}
			ds[i] = d
		}
		return ds, nil
	}
	var err error
	switch args[0] {
	case "blackhole":
		c.durations, err = durations(1)
	case "delay":
		c.durations, err = durations(2)
	case "heal", "cut", "calls":
		if len(args) != 1 {
			err = fmt.Errorf("%s takes no arguments", args[0])
		}
	case "restart":
		for _, a := range args[1:] {
			switch a {
			case "--grace":
				c.restart.Grace = true
			case "--kill":
				c.restart.Kill = true
			default:
				return controlCommand{}, fmt.Errorf("restart: unknown flag %q (want --grace, --kill)", a)
			}
		}
	default:
		err = fmt.Errorf("unknown command %q; commands:\n%s", args[0], ControlUsage)
	}
	if err != nil {
		return controlCommand{}, err
	}
	return c, nil
}

// runControl runs one command (see ControlUsage) and describes what it did.
func (t *Target) runControl(ctx context.Context, args []string) (string, error) {
	c, err := parseControl(args)
	if err != nil {
		return "", err
	}
	switch c.name {
	case "blackhole":
		t.Blackhole(c.durations[0])
		return "black hole for " + c.durations[0].String(), nil
	case "delay":
		t.Delay(c.durations[0], c.durations[1])
		return fmt.Sprintf("latency %v for %v", c.durations[0], c.durations[1]), nil
	case "heal":
		t.Heal()
		return "healed", nil
	case "cut":
		return fmt.Sprintf("cut %d connection(s)", t.CutConnections()), nil
	case "calls":
		return fmt.Sprint(t.Calls()), nil
	}
	// restart
	start := time.Now()
	if err := t.RestartGanesha(ctx, c.restart); err != nil {
		return "", err
	}
	what := "ganesha restarted in " + time.Since(start).Round(time.Millisecond).String()
	if c.restart.Grace {
		what += fmt.Sprintf(", grace period %d s", t.opts.GraceSeconds)
	}
	return what, nil
}

// SendControl sends one command to the target whose state directory is
// stateDir and returns its reply (without "ok "), or its refusal as an error.
func SendControl(ctx context.Context, stateDir string, args []string) (string, error) {
	path := filepath.Join(stateDir, ControlSocketName)
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return "", fmt.Errorf("reach the local target (is it running with --state %s?): %w", stateDir, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if _, err := io.WriteString(c, strings.Join(args, " ")+"\n"); err != nil {
		return "", fmt.Errorf("send to %s: %w", path, err)
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return "", fmt.Errorf("read reply from %s: %w", path, err)
	}
	reply = strings.TrimSpace(reply)
	if r, ok := strings.CutPrefix(reply, "ok "); ok {
		return r, nil
	}
	return "", fmt.Errorf("local target: %s", strings.TrimPrefix(reply, "error "))
}
