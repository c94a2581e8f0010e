package temporalclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/config"
)

// handshake runs a TLS handshake of the client config against a server
// presenting serverCert and requiring a client certificate issued by
// clientCA, as a Temporal frontend with mTLS does. It returns the serial
// of the client certificate the server accepted.
func handshake(t *testing.T, client *tls.Config, serverCert tls.Certificate, clientCA *testCA) (*big.Int, error) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.cert)
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	server := tls.Server(s, &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool})
	done := make(chan error, 1)
	go func() { done <- server.Handshake() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := tls.Client(c, client).HandshakeContext(ctx)
	if err != nil {
		s.Close()
		<-done
		return nil, err
	}
	if err := <-done; err != nil {
		return nil, err
	}
	return server.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

func TestMissingOrBrokenFilesStopTheStartNamingTheFile(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "ferry-test-ca")
	certFile, keyFile := ca.client(t, "ferry-worker").files(t, dir, "client")
	_, otherKey := ca.client(t, "someone-else").files(t, dir, "other")
	expiredCert, expiredKey := ca.issue(t, "ferry-worker", nil, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)).files(t, dir, "expired")
	notPEM := filepath.Join(dir, "ca.txt")
	writeFile(t, notPEM, []byte("this is not a certificate\n"))
	emptyKey := filepath.Join(dir, "empty.key")
	writeFile(t, emptyKey, []byte("\n"))

	for _, tc := range []struct {
		name string
		tls  config.TemporalTLS
		key  string
		want []string
	}{
		{"missing client certificate", config.TemporalTLS{CertFile: filepath.Join(dir, "nope.pem"), KeyFile: keyFile}, "",
			[]string{"temporal.tls.cert_file", "nope.pem", "no such file"}},
		{"missing key", config.TemporalTLS{CertFile: certFile, KeyFile: filepath.Join(dir, "nope-key.pem")}, "",
			[]string{"temporal.tls.key_file", "nope-key.pem", "no such file"}},
		{"key of another certificate", config.TemporalTLS{CertFile: certFile, KeyFile: otherKey}, "",
			[]string{"temporal.tls.cert_file", certFile, "temporal.tls.key_file", otherKey, "private key does not match"}},
		{"expired client certificate", config.TemporalTLS{CertFile: expiredCert, KeyFile: expiredKey}, "",
			[]string{"temporal.tls.cert_file", expiredCert, "expired", "renew it"}},
		{"CA file without a certificate", config.TemporalTLS{CAFile: notPEM}, "",
			[]string{"temporal.tls.ca_file", notPEM, "no PEM certificate"}},
		{"missing API key file", config.TemporalTLS{}, filepath.Join(dir, "nope.key"),
			[]string{"temporal.api_key_file", "nope.key", "no such file"}},
		{"empty API key file", config.TemporalTLS{}, emptyKey,
			[]string{"temporal.api_key_file", emptyKey, "API key alone"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Temporal{Address: "temporal.example.com:7233", Namespace: "ferry", TLS: tc.tls, APIKeyFile: tc.key}
			_, err := DialWithMetrics(c, slog.New(slog.DiscardHandler), nil)
			if err == nil {
				t.Fatal("dialed with a broken credential file")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestRotatedClientCertificateIsPresentedOnTheNextConnection(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "ferry-test-ca")
	serverCert := ca.server(t, "temporal.example.com").tlsCertificate(t)
	first := ca.client(t, "ferry-worker")
	certFile, keyFile := first.files(t, dir, "client")
	caFile := filepath.Join(dir, "ca.pem")
	writeFile(t, caFile, ca.pem)
	c := config.Temporal{Address: "temporal.example.com:7233", TLS: config.TemporalTLS{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}}
	cfg, err := tlsConfig(c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got, err := handshake(t, cfg, serverCert, ca)
	if err != nil || got.Cmp(first.serial) != 0 {
		t.Fatalf("first connection presented %v (err %v), want the first certificate %v", got, err, first.serial)
	}

	renewed := ca.client(t, "ferry-worker")
	renewed.files(t, dir, "client")
	got, err = handshake(t, cfg, serverCert, ca)
	if err != nil || got.Cmp(renewed.serial) != 0 {
		t.Fatalf("after rotation presented %v (err %v), want the renewed certificate %v", got, err, renewed.serial)
	}

	// A rotation caught half-written keeps the last good certificate.
	writeFile(t, certFile, []byte("-----BEGIN CERTIFICATE-----\ntruncated"))
	got, err = handshake(t, cfg, serverCert, ca)
	if err != nil || got.Cmp(renewed.serial) != 0 {
		t.Fatalf("with a broken file presented %v (err %v), want the last good certificate %v", got, err, renewed.serial)
	}
}

func TestServerCertificateIsVerifiedAgainstTheCAFileAsItIsNow(t *testing.T) {
	dir := t.TempDir()
	oldCA, nextCA := newCA(t, "old-ca"), newCA(t, "new-ca")
	clientCA := newCA(t, "client-ca")
	certFile, keyFile := clientCA.client(t, "ferry-worker").files(t, dir, "client")
	caFile := filepath.Join(dir, "ca.pem")
	writeFile(t, caFile, oldCA.pem)
	c := config.Temporal{Address: "temporal.example.com:7233", TLS: config.TemporalTLS{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}}
	cfg, err := tlsConfig(c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}

	if _, err := handshake(t, cfg, oldCA.server(t, "temporal.example.com").tlsCertificate(t), clientCA); err != nil {
		t.Fatalf("a server certificate of the configured CA was refused: %v", err)
	}
	if _, err := handshake(t, cfg, nextCA.server(t, "temporal.example.com").tlsCertificate(t), clientCA); err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("a server certificate of another CA was accepted (err %v)", err)
	}
	if _, err := handshake(t, cfg, oldCA.server(t, "other.example.com").tlsCertificate(t), clientCA); err == nil || !strings.Contains(err.Error(), "temporal.example.com") {
		t.Fatalf("a certificate for another name was accepted (err %v)", err)
	}

	// The cluster moves to a new CA: the bundle is rotated, and the next
	// connection trusts the new CA without a restart.
	writeFile(t, caFile, nextCA.pem)
	if _, err := handshake(t, cfg, nextCA.server(t, "temporal.example.com").tlsCertificate(t), clientCA); err != nil {
		t.Fatalf("after rotating the CA file, the new CA's server certificate was refused: %v", err)
	}
}

func TestServerNameOverridesTheAddressHost(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "ca")
	caFile := filepath.Join(dir, "ca.pem")
	writeFile(t, caFile, ca.pem)
	certFile, keyFile := ca.client(t, "ferry-worker").files(t, dir, "client")
	// A cluster reached through a load balancer's address whose
	// certificate names the frontend service.
	c := config.Temporal{Address: "10.0.0.7:7233", TLS: config.TemporalTLS{CAFile: caFile, ServerName: "temporal-frontend.temporal.svc", CertFile: certFile, KeyFile: keyFile}}
	cfg, err := tlsConfig(c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handshake(t, cfg, ca.server(t, "temporal-frontend.temporal.svc").tlsCertificate(t), ca); err != nil {
		t.Fatalf("the certificate naming temporal.tls.server_name was refused: %v", err)
	}
}

func TestAPIKeyFileIsReadAgainWhenItChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "temporal-api-key")
	writeFile(t, path, []byte("key-one\n"))
	key, err := apiKey(config.Temporal{APIKeyFile: path}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if k, err := key(context.Background()); err != nil || k != "key-one" {
		t.Fatalf("key = %q, %v; want key-one", k, err)
	}
	writeFile(t, path, []byte("key-two"))
	if k, err := key(context.Background()); err != nil || k != "key-two" {
		t.Fatalf("after rotation key = %q, %v; want key-two", k, err)
	}
	// From the environment (Load reads FERRY_TEMPORAL_API_KEY) it is
	// used as it is.
	key, err = apiKey(config.Temporal{APIKey: "from-env"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := key(context.Background()); k != "from-env" {
		t.Fatalf("key = %q, want from-env", k)
	}
}

func TestPlainTCPWithoutTLSSettings(t *testing.T) {
	cfg, err := tlsConfig(config.Temporal{Address: "127.0.0.1:7233"}, slog.New(slog.DiscardHandler))
	if err != nil || cfg != nil {
		t.Fatalf("a config without TLS settings gave %+v, %v; want plain TCP", cfg, err)
	}
	// An API key alone (Temporal Cloud) implies TLS with the system roots.
	cfg, err = tlsConfig(config.Temporal{Address: "ns.acct.tmprl.cloud:7233", APIKey: "k"}, slog.New(slog.DiscardHandler))
	if err != nil || cfg == nil || cfg.InsecureSkipVerify || cfg.ServerName != "ns.acct.tmprl.cloud" {
		t.Fatalf("an API key gave %+v, %v; want TLS verifying ns.acct.tmprl.cloud with the system roots", cfg, err)
	}
}
