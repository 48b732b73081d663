package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The libnfs-stunnel path is the comparison the issue asks for: libnfs's
// nfs-cp (a user-space NFS client, like ours) through an efs-utils-style
// stunnel client, the mount helper's TLS. It reads only: that libnfs
// speaks NFSv4.0 alone and its writes are broken, so it runs the
// sequential reads (a whole-file nfs-cp each) and nothing else.
const libnfsPathName = "libnfs-stunnel"

// errReadsOnly is what the libnfs path answers to everything but reads.
var errReadsOnly = errors.New("libnfs-stunnel: sequential reads only (nfs-cp copies whole files)")

type libnfsPath struct {
	export  *osPath // the same directory through the local export: stat, cleanup
	dir     string  // the working directory on the server, absolute
	port    int     // stunnel's local port
	work    string  // stunnel's configuration; removed by Close
	scratch string  // where nfs-cp writes its copies (tmpfs where there is one)
	stunnel *exec.Cmd
	drain   sync.WaitGroup
}

// openLibNFS starts a stunnel client to the target and returns the path,
// or a *SkipError where nfs-cp or stunnel4 is missing or the target is
// not local (files are prepared and checked through the export).
func (t *target) openLibNFS(ctx context.Context, sub string) (Path, Path, error) {
	for _, tool := range []string{"nfs-cp", "stunnel4"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, nil, &SkipError{tool + " is not installed (Debian: apt-get install libnfs-utils stunnel4)"}
		}
	}
	if t.export == "" {
		return nil, nil, &SkipError{"the target is remote: files are prepared through the local export"}
	}
	export, err := newOSPath(libnfsPathName+"-setup", filepath.Join(t.export, sub), false, nil)
	if err != nil {
		return nil, nil, err
	}
	work, err := os.MkdirTemp(t.cfg.WorkDir, "efs-fuse-bench-stunnel-")
	if err != nil {
		return nil, nil, fmt.Errorf("bench: %s: %w", libnfsPathName, err)
	}
	p := &libnfsPath{export: export, dir: "/" + filepath.ToSlash(sub), work: work, scratch: work}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		p.scratch = "/dev/shm"
	}
	if err := p.startStunnel(ctx, t, work); err != nil {
		return nil, nil, errors.Join(err, os.RemoveAll(work))
	}
	return p, export, nil
}

// startStunnel runs stunnel4 in the foreground with the client section
// efs-utils writes (verify=2, checkHost and sni set to the file system's
// name), accepting on a free loopback port.
func (p *libnfsPath) startStunnel(ctx context.Context, t *target, work string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("bench: %s: find a free port: %w", libnfsPathName, err)
	}
	p.port = ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	conf := fmt.Sprintf(`foreground = yes
pid =
[efs]
client = yes
accept = 127.0.0.1:%d
connect = %s
sslVersion = TLSv1.2
renegotiation = no
TIMEOUTbusy = 20
TIMEOUTclose = 0
TIMEOUTidle = 70
delay = yes
verify = 2
CAfile = %s
checkHost = %s
sni = %s
`, p.port, t.addr, t.caFile, t.serverName, t.serverName)
	file := filepath.Join(work, "stunnel.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		return fmt.Errorf("bench: %s: %w", libnfsPathName, err)
	}
	log := &lockedWriter{w: &bytes.Buffer{}}
	p.stunnel = exec.Command("stunnel4", file)
	p.stunnel.Stdout, p.stunnel.Stderr = log, log
	if err := p.stunnel.Start(); err != nil {
		return fmt.Errorf("bench: %s: start stunnel4: %w", libnfsPathName, err)
	}
	exited := make(chan struct{})
	p.drain.Add(1)
	go func() { // owned by p; ends with stunnel (Close stops it)
		defer p.drain.Done()
		_ = p.stunnel.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.port), time.Second)
		if err == nil {
			return c.Close()
		}
		select {
		case <-exited:
			return fmt.Errorf("bench: %s: stunnel4 exited: %s", libnfsPathName, strings.TrimSpace(log.String()))
		case <-ctx.Done():
			return errors.Join(ctx.Err(), p.stopStunnel())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.Join(fmt.Errorf("bench: %s: stunnel4 not listening within %v", libnfsPathName, startTimeout), p.stopStunnel())
		}
	}
}

func (p *libnfsPath) stopStunnel() error {
	_ = p.stunnel.Process.Kill() // stunnel keeps no state worth a clean exit
	p.drain.Wait()
	return nil
}

// processes: stunnel serves the path; the client is stunnel and the
// nfs-cp processes the step ran (reaped children of the bench).
func (p *libnfsPath) processes() procSet {
	pid := p.stunnel.Process.Pid
	return procSet{serving: pid, hasServ: true, client: []int{pid, reapedChildren}}
}

// supports: sequential reads only.
func (p *libnfsPath) supports(workload string) bool { return strings.HasPrefix(workload, "seqread") }

// ReadWhole copies name from the server with nfs-cp and returns its size.
func (p *libnfsPath) ReadWhole(ctx context.Context, name string) (int64, error) {
	// nfs-cp refuses a destination that exists.
	dir, err := os.MkdirTemp(p.scratch, "efs-fuse-bench-nfs-cp-")
	if err != nil {
		return 0, fmt.Errorf("nfs-cp destination: %w", err)
	}
	defer os.RemoveAll(dir)
	dst := filepath.Join(dir, name)
	// libnfs splits "//dir/file" into the export "/" and the path.
	url := fmt.Sprintf("nfs://127.0.0.1/%s/%s?version=4&nfsport=%d", p.dir, name, p.port)
	if out, err := exec.CommandContext(ctx, "nfs-cp", url, dst).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("nfs-cp %s: %w: %s", url, err, strings.TrimSpace(string(out)))
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return 0, fmt.Errorf("nfs-cp destination: %w", err)
	}
	return fi.Size(), nil
}

func (p *libnfsPath) Name() string { return libnfsPathName }
func (p *libnfsPath) Depth() int   { return 1 }
func (p *libnfsPath) Create(context.Context, string) (File, error) {
	return nil, errReadsOnly
}
func (p *libnfsPath) Open(context.Context, string, OpenHow) (File, error) {
	return nil, errReadsOnly
}
func (p *libnfsPath) OpenRW(context.Context, string) (File, error) { return nil, errReadsOnly }
func (p *libnfsPath) Stat(ctx context.Context, name string) (int64, error) {
	return p.export.Stat(ctx, name)
}
func (p *libnfsPath) Remove(context.Context, string) error { return errReadsOnly }
func (p *libnfsPath) Mkdir(context.Context, string) error  { return errReadsOnly }
func (p *libnfsPath) RemoveAll(ctx context.Context, name string) error {
	return p.export.RemoveAll(ctx, name)
}
func (p *libnfsPath) ReadDir(context.Context, string) (int, error) { return 0, errReadsOnly }

// Close stops stunnel and removes its files.
func (p *libnfsPath) Close() error {
	return errors.Join(p.stopStunnel(), os.RemoveAll(p.work))
}
