package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// InNetNS runs fn on a new OS thread that has joined the network namespace
// at path (/proc/PID/ns/net, /var/run/netns/NAME) and returns its error.
// Sockets fn creates stay in that namespace for their whole life, whichever
// thread uses them afterwards, so a connection dialled here can be used
// anywhere. This is the mount helper's `nsenter --net=PATH` for one call.
func InNetNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go runInNetNS(path, fn, errc)
	return <-errc
}

func runInNetNS(path string, fn func() error, errc chan<- error) {
	// Never unlocked once in the namespace: a goroutine that exits still
	// locked to its thread takes the thread with it, so no other goroutine
	// is ever scheduled on a thread in the namespace.
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// The main thread cannot end: Go would park it for good instead,
		// and /proc/self/ns/net would name the namespace from then on.
		// Hold it, clean, while a goroutine that cannot run here does
		// the work.
		done := make(chan struct{})
		go func() {
			defer close(done)
			runInNetNS(path, fn, errc)
		}()
		<-done
		runtime.UnlockOSThread()
		return
	}
	if err := enterNetNS(path); err != nil {
		errc <- err
		return
	}
	errc <- fn()
}

// enterNetNS moves the calling thread into the network namespace at path.
func enterNetNS(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", path, err)
	}
	defer f.Close()
	err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("network namespace %s: not a network namespace file (want /proc/PID/ns/net or /var/run/netns/NAME): %w", path, err)
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("network namespace %s: joining it needs CAP_SYS_ADMIN: %w", path, err)
	}
	return fmt.Errorf("network namespace %s: setns: %w", path, err)
}

// CheckNetNS reports whether path is a network namespace this process can
// join, with the error DialNetNS would give; "" is always fine.
func CheckNetNS(path string) error {
	if path == "" {
		return nil
	}
	return InNetNS(path, func() error { return nil })
}

// DialNetNS dials addr from the network namespace at path; "" = this
// process's own. Host names are resolved through the namespace as well
// (with the host's /etc/resolv.conf, as under nsenter --net).
func DialNetNS(ctx context.Context, path, network, addr string) (net.Conn, error) {
	if path == "" {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	d := net.Dialer{
		// Happy Eyeballs would race the address families on goroutines of
		// their own, outside the namespace: dial them in turn instead.
		FallbackDelay: -1,
		// The resolver also queries name servers on goroutines of its own.
		Resolver: &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialIn(ctx, path, &net.Dialer{}, network, addr)
		}},
	}
	return dialIn(ctx, path, &d, network, addr)
}

func dialIn(ctx context.Context, path string, d *net.Dialer, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := InNetNS(path, func() error {
		var err error
		if c, err = d.DialContext(ctx, network, addr); err != nil {
			return fmt.Errorf("in network namespace %s: %w", path, err)
		}
		return nil
	})
	return c, err
}
