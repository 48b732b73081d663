package tunnel

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
)

// ErrorKind says why a TLS connection to the mount target was not made.
type ErrorKind int

const (
	// KindConnect: the TCP connection could not be made (refused, unreachable, timeout).
	KindConnect ErrorKind = iota + 1
	// KindProtocolVersion: the server offers only TLS 1.1 or older.
	KindProtocolVersion
	// KindUnknownAuthority: the server certificate chain does not lead to a trusted CA.
	KindUnknownAuthority
	// KindHostname: the server certificate is not valid for Config.ServerName.
	KindHostname
	// KindExpired: the server certificate has expired or is not yet valid.
	KindExpired
	// KindHandshake: any other handshake failure (not TLS, alerts, timeouts, bad certificates).
	KindHandshake
	// KindBadCAFile: Config.CAFile cannot be read or holds no certificate.
	KindBadCAFile
)

var kindNames = map[ErrorKind]string{
	KindConnect:          "connect",
	KindProtocolVersion:  "protocol-version",
	KindUnknownAuthority: "unknown-authority",
	KindHostname:         "hostname",
	KindExpired:          "expired",
	KindHandshake:        "handshake",
	KindBadCAFile:        "bad-ca-file",
}

func (k ErrorKind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// Error is the error DialContext returns for every failure, and NewTLSConfig
// for an unusable CA file. Match it with errors.As and switch on Kind.
type Error struct {
	Kind       ErrorKind
	Addr       string // the dialled host:port ("" for KindBadCAFile from NewTLSConfig)
	ServerName string
	Err        error // the underlying crypto/tls, crypto/x509 or net error

	// detail is the human explanation filled in by classify; Error() falls
	// back to Err when it is empty (errors built by hand).
	detail string
}

func (e *Error) Error() string {
	detail := e.detail
	if detail == "" && e.Err != nil {
		detail = e.Err.Error()
	}
	switch {
	case e.Kind == KindBadCAFile:
		return detail
	// A silent server refused nothing: it did not answer.
	case e.Kind == KindConnect, isTimeout(e.Err):
		return fmt.Sprintf("TLS connection to %s failed: %s", e.Addr, detail)
	default:
		return fmt.Sprintf("TLS connection to %s refused: %s", e.Addr, detail)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// alertProtocolVersion is the TLS alert number for protocol_version (RFC 8446 6.2).
const alertProtocolVersion = 70

// classify turns a handshake error into an *Error. Only types are inspected,
// except for one Go message that has no type (see isOldServerVersion).
func classify(err error, addr, serverName string) *Error {
	e := &Error{Kind: KindHandshake, Addr: addr, ServerName: serverName, Err: err}
	var (
		hostErr    x509.HostnameError
		authErr    x509.UnknownAuthorityError
		invalidErr x509.CertificateInvalidError
		recordErr  tls.RecordHeaderError
		opErr      *net.OpError
	)
	switch {
	case errors.As(err, &hostErr):
		e.Kind = KindHostname
		e.detail = fmt.Sprintf("the server certificate is not valid for %s (it is for: %s)", serverName, certNames(hostErr.Certificate))
	case errors.As(err, &authErr):
		e.Kind = KindUnknownAuthority
		issuer := "unknown issuer"
		if authErr.Cert != nil {
			issuer = authErr.Cert.Issuer.String()
		}
		e.detail = fmt.Sprintf("the server certificate is signed by an unknown authority (%s); check the CA file (cafile / stunnel_cafile)", issuer)
	case errors.As(err, &invalidErr) && invalidErr.Reason == x509.Expired:
		e.Kind = KindExpired
		e.detail = "the server certificate has expired or is not yet valid"
		if c := invalidErr.Cert; c != nil {
			e.detail += fmt.Sprintf(" (valid from %s to %s; check this machine's clock)",
				c.NotBefore.UTC().Format("2006-01-02 15:04:05 UTC"), c.NotAfter.UTC().Format("2006-01-02 15:04:05 UTC"))
		}
	case errors.As(err, &invalidErr):
		e.detail = fmt.Sprintf("the server certificate is invalid: %v", invalidErr)
	case isRemoteAlert(err, alertProtocolVersion) || isOldServerVersion(err):
		e.Kind = KindProtocolVersion
		e.detail = "the server does not support TLS 1.2 or newer (TLS 1.1 and older are refused)"
	case errors.As(err, &recordErr):
		e.detail = "the server did not answer with TLS (is this the TLS port of the mount target?)"
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		e.detail = fmt.Sprintf("the server aborted the TLS handshake: %v", opErr.Err)
	case isTimeout(err):
		e.detail = "the server did not answer the TLS handshake in time"
	default:
		e.detail = fmt.Sprintf("TLS handshake failed: %v", err)
	}
	return e
}

// isRemoteAlert reports whether err is an alert received from the peer.
// crypto/tls returns a *net.OpError{Op: "remote error"} wrapping its
// unexported alert type (a uint8); the exported tls.AlertError is used only
// for QUIC. Reading the number by reflection keeps us off the message text.
func isRemoteAlert(err error, code uint64) bool {
	var opErr *net.OpError
	if !errors.As(err, &opErr) || opErr.Op != "remote error" || opErr.Err == nil {
		return false
	}
	var ae tls.AlertError
	if errors.As(opErr.Err, &ae) {
		return uint64(ae) == code
	}
	v := reflect.ValueOf(opErr.Err)
	return v.Kind() == reflect.Uint8 && v.Uint() == code
}

// isOldServerVersion catches a server that ignores our version list and
// answers with TLS 1.0/1.1 anyway: crypto/tls reports that with a plain
// fmt.Errorf, so there is no type to match and the message is the only signal.
func isOldServerVersion(err error) bool {
	return strings.Contains(err.Error(), "server selected unsupported protocol version")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// certNames lists the names a certificate is valid for, for error messages.
func certNames(c *x509.Certificate) string {
	if c == nil {
		return "unknown"
	}
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName+" (common name only, not accepted)")
	}
	if len(names) == 0 {
		return "no names"
	}
	return strings.Join(names, ", ")
}
