// Package tunnel carries bytes between efs-fuse and an EFS mount target over
// TLS. It knows nothing about NFS: it dials, authenticates the server (and
// later presents the EFS client identity), and hands back a net.Conn whose
// TLS handshake is already complete, so no application byte can leave in
// clear text or reach an unauthenticated server.
package tunnel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/internal/tlsbatch"
)

// DefaultDialTimeout bounds TCP connect plus TLS handshake when
// Config.DialTimeout is zero.
const DefaultDialTimeout = 15 * time.Second

// DefaultVerify is the stunnel-style verification level the mount helper uses.
const DefaultVerify = 2

// Config describes one mount target connection. Its zero value does NOT
// verify the server (Verify 0, CheckHostname false): start from NewConfig.
type Config struct {
	// Addr is the host:port actually dialled: the EFS DNS name, or
	// mounttargetip, port 2049 normally.
	Addr string
	// ServerName is verified in the server certificate and sent as SNI, e.g.
	// fs-12345678.efs.us-east-1.amazonaws.com, even when Addr is an IP.
	ServerName string
	// CAFile is a PEM bundle of trusted roots; empty = system roots.
	CAFile string
	// Verify is stunnel-style: 0 = no verification at all (a warning is
	// logged once per Dialer), >= 1 = verify the chain. A TLS server always
	// presents a certificate, so stunnel's levels 1 and 2 behave the same.
	Verify int
	// CheckHostname also checks ServerName against the certificate (config
	// stunnel_check_cert_hostname); false = chain only, with a warning.
	CheckHostname bool
	// ClientCertificate, if set, is called on every handshake whose server
	// asks for a client certificate; it may return nil for "none".
	ClientCertificate func() (*tls.Certificate, error)
	// DialTimeout bounds TCP connect plus TLS handshake; 0 = DefaultDialTimeout.
	DialTimeout time.Duration
	// Logger receives warnings about weakened verification; nil = no logs.
	Logger *zap.Logger
	// NetNS, if set, is a network namespace file (/proc/PID/ns/net,
	// /var/run/netns/NAME, option netns=): the TCP connection is made from
	// inside it, and the path is opened again on every dial, as each
	// stunnel the helper starts runs under nsenter --net=PATH.
	NetNS string
}

// NewConfig returns a Config with the mount helper's defaults: verify=2,
// hostname checked, 15 s dial timeout.
func NewConfig(addr, serverName string) Config {
	return Config{Addr: addr, ServerName: serverName, Verify: DefaultVerify, CheckHostname: true, DialTimeout: DefaultDialTimeout}
}

// NewTLSConfig builds the client tls.Config for cfg: TLS 1.2 minimum, SNI =
// ServerName, roots from CAFile, client certificate callback, and the chosen
// verification level. Apart from reading CAFile it is a pure function.
//
// Verification always targets ServerName, never the dialled address, so it
// works when Addr is an IP (mounttargetip). With CheckHostname false Go's
// built-in check is switched off and VerifyConnection checks the chain only.
func NewTLSConfig(cfg Config) (*tls.Config, error) {
	if cfg.Verify < 0 {
		return nil, fmt.Errorf("tunnel: verify level %d is invalid: use 0 (none) or 1-2", cfg.Verify)
	}
	verifying := cfg.Verify >= 1
	if verifying && cfg.CheckHostname && cfg.ServerName == "" {
		return nil, errors.New("tunnel: a server name is required to check the server certificate's host name")
	}
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: cfg.ServerName,
	}
	if cfg.CAFile != "" {
		pool, err := loadCAFile(cfg.CAFile)
		if err != nil {
			return nil, &Error{Kind: KindBadCAFile, Addr: cfg.Addr, ServerName: cfg.ServerName, Err: err,
				detail: fmt.Sprintf("cannot use CA file %s: %v", cfg.CAFile, err)}
		}
		tc.RootCAs = pool
	}
	if get := cfg.ClientCertificate; get != nil {
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, err := get()
			if err != nil {
				return nil, fmt.Errorf("client certificate: %w", err)
			}
			if c == nil {
				return &tls.Certificate{}, nil // send no certificate
			}
			return c, nil
		}
	}
	switch {
	case !verifying:
		tc.InsecureSkipVerify = true
	case !cfg.CheckHostname:
		roots := tc.RootCAs // nil = system roots, as in x509.VerifyOptions
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyChain(cs, roots)
		}
	}
	return tc, nil
}

// verifyChain checks the peer chain against roots without a host name, as
// crypto/tls would, wrapping failures the same way so classify sees the
// usual x509 error types.
func verifyChain(cs tls.ConnectionState, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tunnel: the server sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
	}
	return nil
}

func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("the file holds no PEM certificate")
	}
	return pool, nil
}

// Dialer opens authenticated TLS connections to one mount target. It is safe
// for concurrent use.
type Dialer struct {
	cfg     Config
	tls     *tls.Config // shared by all dials; never modified after NewDialer
	timeout time.Duration
}

// NewDialer validates cfg and builds its TLS configuration once. Weakened
// verification is logged here, once per Dialer rather than per reconnect.
func NewDialer(cfg Config) (*Dialer, error) {
	if cfg.Addr == "" {
		return nil, errors.New("tunnel: no address to dial")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("tunnel: address %q: %w", cfg.Addr, err)
	}
	tc, err := NewTLSConfig(cfg)
	if err != nil {
		return nil, err
	}
	// A bad namespace fails the mount now, not every reconnect later.
	if err := CheckNetNS(cfg.NetNS); err != nil {
		return nil, fmt.Errorf("tunnel: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	fields := []zap.Field{zap.String("addr", cfg.Addr), zap.String("server_name", cfg.ServerName)}
	switch {
	case cfg.Verify == 0:
		log.Warn("TLS certificate verification is disabled (verify=0): the mount target is not authenticated", fields...)
	case !cfg.CheckHostname:
		log.Warn("TLS host name check is disabled (stunnel_check_cert_hostname=false): any certificate from a trusted CA is accepted", fields...)
	}
	timeout := cfg.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	return &Dialer{cfg: cfg, tls: tc, timeout: timeout}, nil
}

// DialContext connects to the mount target, sets TCP_NODELAY and completes
// the TLS handshake (including server verification) before returning. Every
// failure is an *Error; the TCP connection is closed on failure.
func (d *Dialer) DialContext(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	raw, err := DialNetNS(ctx, d.cfg.NetNS, "tcp", d.cfg.Addr)
	if err != nil {
		return nil, &Error{Kind: KindConnect, Addr: d.cfg.Addr, ServerName: d.cfg.ServerName, Err: err,
			detail: fmt.Sprintf("could not connect: %v", err)}
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		// Go's default, set explicitly: NFS RPCs are small and latency bound.
		if err := tcp.SetNoDelay(true); err != nil {
			raw.Close()
			return nil, &Error{Kind: KindConnect, Addr: d.cfg.Addr, ServerName: d.cfg.ServerName, Err: err,
				detail: fmt.Sprintf("set TCP_NODELAY: %v", err)}
		}
	}
	conn := tlsbatch.Client(raw, d.tls)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, classify(err, d.cfg.Addr, d.cfg.ServerName)
	}
	return conn, nil
}
