package temporalclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ferrydata/ferry/internal/config"
)

// watchedFile is a file read again whenever its modification time or
// size changes, so rotated certificates and keys (a renewed Kubernetes
// Secret, a cert-manager renewal) take effect without a restart. A file
// that cannot be read or parsed after a change keeps its last good value,
// with the failure logged: a rotation caught half-written must not cut
// the worker off from Temporal.
type watchedFile[T any] struct {
	field, path string
	parse       func([]byte) (T, error)
	log         *slog.Logger

	mu      sync.Mutex
	modTime time.Time
	size    int64
	value   T
	loaded  bool
}

// get returns the file's current value, reading it again if it changed.
func (w *watchedFile[T]) get() (T, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st, err := os.Stat(w.path)
	if err == nil && w.loaded && st.ModTime().Equal(w.modTime) && st.Size() == w.size {
		return w.value, nil
	}
	var v T
	if err == nil {
		var b []byte
		if b, err = os.ReadFile(w.path); err == nil {
			v, err = w.parse(b)
		}
	}
	if err != nil {
		err = fmt.Errorf("%s %s: %w", w.field, w.path, err)
		if !w.loaded {
			return v, err
		}
		w.log.Error("keeping the last good Temporal credential: the file changed but cannot be used", "error", err)
		return w.value, nil
	}
	w.value, w.modTime, w.size, w.loaded = v, st.ModTime(), st.Size(), true
	return v, nil
}

// tlsConfig builds the TLS configuration for c, reading every file once
// now so that a missing or broken one stops the process at start, naming
// it. Nil means plain TCP.
func tlsConfig(c config.Temporal, log *slog.Logger) (*tls.Config, error) {
	if !c.On() {
		return nil, nil
	}
	serverName := c.TLS.ServerName
	if serverName == "" {
		host, _, err := net.SplitHostPort(c.Address)
		if err != nil {
			return nil, fmt.Errorf("temporal.address %q must be host:port: %w", c.Address, err)
		}
		serverName = host
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if c.TLS.CertFile != "" {
		pair := &watchedFile[tls.Certificate]{
			field: "temporal.tls.cert_file", path: c.TLS.CertFile, log: log,
			parse: func(certPEM []byte) (tls.Certificate, error) { return clientCertificate(certPEM, c.TLS.KeyFile) },
		}
		if _, err := pair.get(); err != nil {
			return nil, err
		}
		// Asked for on every handshake, so a new connection after a
		// rotation presents the new certificate.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, err := pair.get()
			return &cert, err
		}
	}
	if c.TLS.CAFile != "" {
		roots := &watchedFile[*x509.CertPool]{field: "temporal.tls.ca_file", path: c.TLS.CAFile, log: log, parse: certPool}
		if _, err := roots.get(); err != nil {
			return nil, err
		}
		// crypto/tls reads RootCAs once; to follow a rotated CA bundle the
		// chain is verified here instead, against the bundle as it is now,
		// exactly as crypto/tls would (same name check, same intermediates).
		cfg.InsecureSkipVerify = true // verification is VerifyConnection's, below
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			pool, err := roots.get()
			if err != nil {
				return err
			}
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			opts := x509.VerifyOptions{DNSName: serverName, Roots: pool, Intermediates: x509.NewCertPool()}
			for _, ic := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(ic)
			}
			_, err = cs.PeerCertificates[0].Verify(opts)
			return err
		}
	}
	return cfg, nil
}

// clientCertificate pairs the certificate PEM with the key file, and
// refuses one that is expired or not yet valid: the server would refuse it
// with a less helpful message.
func clientCertificate(certPEM []byte, keyFile string) (tls.Certificate, error) {
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("reading its key, temporal.tls.key_file: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("with temporal.tls.key_file %s: %w (both must be PEM, and the key the certificate's)", keyFile, err)
	}
	now := time.Now()
	switch leaf := cert.Leaf; {
	case now.After(leaf.NotAfter):
		return tls.Certificate{}, fmt.Errorf("the client certificate %q expired at %s: renew it", leaf.Subject, leaf.NotAfter.Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return tls.Certificate{}, fmt.Errorf("the client certificate %q is not valid before %s: check the clock", leaf.Subject, leaf.NotBefore.Format(time.RFC3339))
	}
	return cert, nil
}

// certPool parses a PEM bundle of CA certificates.
func certPool(b []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("no PEM certificate in it: give the server CA's certificate(s) in PEM")
	}
	return pool, nil
}

// apiKey returns the callback the SDK asks for the key on every call: the
// environment's key, or the key file's current content.
func apiKey(c config.Temporal, log *slog.Logger) (func(context.Context) (string, error), error) {
	if c.APIKey != "" {
		return func(context.Context) (string, error) { return c.APIKey, nil }, nil
	}
	if c.APIKeyFile == "" {
		return nil, nil
	}
	key := &watchedFile[string]{
		field: "temporal.api_key_file", path: c.APIKeyFile, log: log,
		parse: func(b []byte) (string, error) {
			k := string(bytes.TrimSpace(b))
			if k == "" || strings.ContainsAny(k, " \n\r\t") {
				return "", errors.New("it must hold the API key alone, on one line")
			}
			return k, nil
		},
	}
	if _, err := key.get(); err != nil {
		return nil, err
	}
	return func(context.Context) (string, error) { return key.get() }, nil
}
