package tunnel

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/efs-fuse/efs-fuse/internal/efsext"
	"github.com/efs-fuse/efs-fuse/internal/iamauth"
)

// Client identity defaults, as the EFS mount helper has them.
const (
	// DefaultKeyPath is where the host's key lives. It is efs-utils' own
	// path and format (PKCS#8 PEM, RSA-3072, mode 0400), so efs-fuse and the
	// mount helper on one host share a single key instead of two.
	DefaultKeyPath      = "/etc/amazon/efs/privateKey.pem"
	DefaultRenewEvery   = 60 * time.Minute // tls_cert_renewal_interval_min
	DefaultClientSource = "unknown"        // efs-utils' value when [client-info] source is unset
	keyBits             = 3072
	certBackdate        = 15 * time.Minute // tolerate server clocks behind ours
	certLifetime        = 3 * time.Hour
	// maxRenewEvery keeps a renewal due well before the 3 h certificate ends,
	// whatever the configuration says.
	maxRenewEvery = 2 * time.Hour
	maxKeyFile    = 64 << 10
)

// IdentityConfig describes the client certificate of one mount.
type IdentityConfig struct {
	FSID         string          // required: fs-12345678
	AccessPoint  string          // accesspoint=, "" = none
	KeyPath      string          // "" = DefaultKeyPath; the lock file is KeyPath+".lock"
	CommonName   string          // "" = this host's name
	ClientSource string          // client-info source, "" = DefaultClientSource
	Version      string          // client-info efs_utils_version: the efs-fuse version
	IAM          *iamauth.Signer // nil = no IAM extension
	RenewEvery   time.Duration   // 0 = DefaultRenewEvery; capped at 2 h
	CertFile     string          // optional: also write each certificate here (PEM, 0600)
	Clock        func() time.Time
	Logger       *zap.Logger
}

// Identity owns the client certificate of one mount. Certificate is what
// Config.ClientCertificate should call; Run renews it in the background.
// A renewal only affects handshakes that start after it: live connections
// keep the certificate they authenticated with. (Dialers must not enable TLS
// session resumption, or a resumed session would carry the old identity.)
type Identity struct {
	cfg  IdentityConfig
	log  *zap.Logger
	key  *rsa.PrivateKey
	spki []byte // DER SubjectPublicKeyInfo of key
	ski  []byte // SHA-1 of the key bits: subjectKeyIdentifier, as openssl's "hash"

	renewMu sync.Mutex // one renewal at a time
	cur     atomic.Pointer[tls.Certificate]
}

// NewIdentity loads (or creates, once per host) the key and issues the first
// certificate. ctx bounds that first issue, which fetches AWS credentials
// when IAM is on.
func NewIdentity(ctx context.Context, cfg IdentityConfig) (*Identity, error) {
	if cfg.FSID == "" {
		return nil, errors.New("tunnel: client identity needs a file system ID")
	}
	if cfg.KeyPath == "" {
		cfg.KeyPath = DefaultKeyPath
	}
	if cfg.ClientSource == "" {
		cfg.ClientSource = DefaultClientSource
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	// The caller's logger names the mount (fs_id and all): adding the
	// file system here would repeat the key on every line.
	log := cfg.Logger
	switch {
	case cfg.RenewEvery <= 0:
		cfg.RenewEvery = DefaultRenewEvery
	case cfg.RenewEvery > maxRenewEvery:
		log.Warn("certificate renewal interval is longer than a certificate can outlive; using 2 h",
			zap.Duration("configured", cfg.RenewEvery))
		cfg.RenewEvery = maxRenewEvery
	}
	if cfg.CommonName == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("tunnel: host name for the client certificate: %w", err)
		}
		cfg.CommonName = h
	}
	key, err := loadOrCreateKey(ctx, cfg.KeyPath, log)
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("tunnel: encode public key: %w", err)
	}
	hash, err := iamauth.PublicKeyHash(spki)
	if err != nil {
		return nil, err
	}
	ski, _ := hex.DecodeString(hash)
	id := &Identity{cfg: cfg, log: log, key: key, spki: spki, ski: ski}
	if err := id.Renew(ctx); err != nil {
		return nil, err
	}
	return id, nil
}

// Certificate returns the current certificate. It fails, rather than
// offering a certificate EFS would refuse, once the current one has expired
// (renewals kept failing).
func (id *Identity) Certificate() (*tls.Certificate, error) {
	c := id.cur.Load()
	if now := id.cfg.Clock(); now.After(c.Leaf.NotAfter) {
		return nil, fmt.Errorf("tunnel: the client certificate for %s expired at %s and could not be renewed (see earlier warnings)",
			id.cfg.FSID, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return c, nil
}

// Renew issues a new certificate now (signing with fresh credentials when
// IAM is on) and makes it the one new handshakes use.
func (id *Identity) Renew(ctx context.Context) error {
	id.renewMu.Lock()
	defer id.renewMu.Unlock()
	c, err := id.issue(ctx, id.cfg.Clock())
	if err != nil {
		return fmt.Errorf("tunnel: issue client certificate for %s: %w", id.cfg.FSID, err)
	}
	if id.cfg.CertFile != "" {
		data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
		if err := writeFileAtomic(id.cfg.CertFile, data, 0o600); err != nil {
			return fmt.Errorf("tunnel: write client certificate: %w", err)
		}
	}
	id.cur.Store(c)
	fields := []zap.Field{zap.String("serial", c.Leaf.SerialNumber.Text(16)), zap.Time("not_after", c.Leaf.NotAfter),
		zap.String("access_point", id.cfg.AccessPoint), zap.Bool("iam", id.cfg.IAM != nil)}
	if id.cfg.IAM != nil {
		fields = append(fields, zap.String("credentials", id.cfg.IAM.Source()))
	}
	id.log.Info("client certificate issued", fields...)
	return nil
}

// Run renews the certificate every RenewEvery until ctx ends; after a failed
// renewal it keeps the current certificate and retries within a minute. It
// blocks: the caller owns the goroutine and ends it by cancelling ctx.
func (id *Identity) Run(ctx context.Context) {
	every := id.cfg.RenewEvery
	retry := min(every, time.Minute)
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := id.Renew(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			id.log.Warn("client certificate renewal failed; new connections keep the current certificate",
				zap.Error(err), zap.Time("current_not_after", id.cur.Load().Leaf.NotAfter), zap.Duration("retry_in", retry))
			t.Reset(retry)
		default:
			t.Reset(every)
		}
	}
}

// issue builds and self-signs a certificate at now: CN = host name,
// SHA-256 with RSA, valid now-15min..now+3h, with the EFS extensions.
func (id *Identity) issue(ctx context.Context, now time.Time) (*tls.Certificate, error) {
	now = now.UTC().Truncate(time.Second) // certificate times and X-Amz-Date in whole seconds
	ext := efsext.Identity{FileSystemID: id.cfg.FSID, AccessPoint: id.cfg.AccessPoint,
		ClientInfo: &efsext.ClientInfo{Source: id.cfg.ClientSource, EFSUtilsVersion: id.cfg.Version}}
	if id.cfg.IAM != nil {
		a, err := id.cfg.IAM.Sign(ctx, id.spki, now)
		if err != nil {
			return nil, err
		}
		ext.IAM = &a
	}
	exts, err := ext.Extensions()
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:       serial,
		Subject:            pkix.Name{CommonName: id.cfg.CommonName},
		NotBefore:          now.Add(-certBackdate),
		NotAfter:           now.Add(certLifetime),
		SignatureAlgorithm: x509.SHA256WithRSA,
		SubjectKeyId:       id.ski,
		ExtraExtensions:    exts,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &id.key.PublicKey, id.key)
	if err != nil {
		return nil, fmt.Errorf("self-sign: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse own certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: id.key, Leaf: leaf}, nil
}

// loadOrCreateKey returns the host key at path, creating it if missing.
// Creation happens under an exclusive flock on path+".lock" and re-checks
// after locking, so concurrent mounts make one key, not several. The key is
// published with link(2), which never replaces a key another program (e.g.
// the efs-utils mount helper, which does not use our lock) wrote meanwhile.
func loadOrCreateKey(ctx context.Context, path string, log *zap.Logger) (*rsa.PrivateKey, error) {
	key, err := readKey(path, log)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	dir := filepath.Dir(path)
	// The directory is efs-utils' /etc/amazon/efs, which also holds the
	// world-readable config file: 0755 as efs-utils makes it; the key
	// file itself is 0400.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tunnel: create key directory: %w", err)
	}
	unlock, err := lockFile(ctx, path+".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if key, err := readKey(path, log); !errors.Is(err, fs.ErrNotExist) {
		return key, err // made by another mount while we waited
	}
	log.Info("creating the host's TLS client key", zap.String("path", path), zap.Int("bits", keyBits))
	key, err = rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return nil, fmt.Errorf("tunnel: generate RSA key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("tunnel: encode key: %w", err)
	}
	tmp, err := writeTemp(dir, filepath.Base(path), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o400)
	if err != nil {
		return nil, fmt.Errorf("tunnel: write key: %w", err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKey(path, log)
		}
		return nil, fmt.Errorf("tunnel: publish key %s: %w", path, err)
	}
	return key, nil
}

// readKey reads an RSA key from a PEM file (PKCS#8 as openssl genpkey
// writes, or PKCS#1). A key readable by group or others is tightened to 0400
// with a warning rather than refused, since other mounts depend on it.
func readKey(path string, log *zap.Logger) (*rsa.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tunnel: open private key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("tunnel: private key %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("tunnel: private key %s is not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o400); err != nil {
			return nil, fmt.Errorf("tunnel: private key %s is readable by other users (mode %04o) and cannot be restricted: %w", path, st.Mode().Perm(), err)
		}
		log.Warn("private key was readable by other users; changed its mode to 0400", zap.String("path", path),
			zap.String("old_mode", fmt.Sprintf("%04o", st.Mode().Perm())))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("tunnel: read private key %s: %w", path, err)
	}
	key, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("tunnel: private key %s is malformed: %w (move it away to have a new key created; mounts using it must then be remounted)", path, err)
	}
	if n := key.N.BitLen(); n != keyBits {
		log.Warn("private key is not RSA-3072 as EFS clients normally use", zap.String("path", path), zap.Int("bits", n))
	}
	return key, nil
}

func parseKey(data []byte) (*rsa.PrivateKey, error) {
	if len(data) > maxKeyFile {
		return nil, errors.New("file is too large to be a key")
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var k any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%T is not an RSA key", k)
	}
	if rk.N.BitLen() < 2048 {
		return nil, fmt.Errorf("RSA key of %d bits is too small", rk.N.BitLen())
	}
	return rk, nil
}

// lockFile takes an exclusive flock on path (created 0600), polling so ctx
// can interrupt the wait. The returned func releases it.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("tunnel: open key lock: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("tunnel: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("tunnel: waiting for key lock %s: %w", path, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// writeTemp writes data to a new temporary file in dir with mode from the
// start (never briefly wider) and returns its name.
func writeTemp(dir, base string, data []byte, mode os.FileMode) (string, error) {
	f, err := os.CreateTemp(dir, "."+base+".tmp*") // created 0600
	if err != nil {
		return "", err
	}
	name := f.Name()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if werr == nil {
		werr = f.Chmod(mode)
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(name)
		return "", werr
	}
	return name, nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := writeTemp(filepath.Dir(path), filepath.Base(path), data, mode)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
