//go:build integration

package temporalclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// frontend stands in front of the real Temporal dev server the way a
// secured cluster's frontend (or Temporal Cloud) does: TLS with its own
// certificate, optionally requiring a client certificate of clientCA
// (mTLS) or an API key as a bearer token. It passes the gRPC calls it
// accepts, over HTTP/2, to the dev server, which has no TLS of its own.
type frontend struct {
	addr string
	mu   sync.Mutex
	key  string // required API key; "" for none
}

func (f *frontend) setKey(k string) { f.mu.Lock(); f.key = k; f.mu.Unlock() }

func startFrontend(t *testing.T, backend string, cert tls.Certificate, clientCA *testCA, key string) *frontend {
	t.Helper()
	f := &frontend{key: key}
	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	proxy := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(&url.URL{Scheme: "http", Host: backend}) },
		Transport:     h2c,
		FlushInterval: -1,
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		want := f.key
		f.mu.Unlock()
		if want != "" && r.Header.Get("Authorization") != "Bearer "+want {
			// A trailers-only gRPC answer, as Temporal Cloud gives a
			// wrong key.
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("Grpc-Status", "16") // Unauthenticated
			w.Header().Set("Grpc-Message", "Request unauthorized.")
			w.WriteHeader(http.StatusOK)
			return
		}
		proxy.ServeHTTP(w, r)
	})
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}}
	if clientCA != nil {
		pool := x509.NewCertPool()
		pool.AddCert(clientCA.cert)
		tc.ClientAuth, tc.ClientCAs = tls.RequireAndVerifyClientCert, pool
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, TLSConfig: tc, ReadHeaderTimeout: 10 * time.Second,
		// Refused handshakes are what these tests make; the client side
		// says what matters.
		ErrorLog: stdlog.New(io.Discard, "", 0)}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	f.addr = ln.Addr().String()
	return f
}

// usable proves the client reaches the real server through the frontend
// with a call the worker makes (listing executions in the namespace).
func usable(t *testing.T, cl client.Client, namespace string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := cl.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, PageSize: 1}); err != nil {
		t.Fatalf("listing workflows through the secured frontend: %v", err)
	}
}

func dialErr(t *testing.T, c config.Temporal) error {
	t.Helper()
	cl, err := Dial(c, slog.New(slog.DiscardHandler))
	if err == nil {
		cl.Close()
		t.Fatalf("connected to %s with %+v; want a refusal", c.Address, c)
	}
	return err
}

func mustSay(t *testing.T, err error, want ...string) {
	t.Helper()
	t.Log(err) // what an operator would read
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

func TestMutualTLSToARealTemporal(t *testing.T) {
	st := stacktest.Require(t, stacktest.Temporal)
	backend, namespace := st.Config.Temporal.Address, st.Config.Temporal.Namespace
	dir := t.TempDir()
	serverCA, clientCA, strangerCA := newCA(t, "cluster-ca"), newCA(t, "client-ca"), newCA(t, "stranger-ca")
	front := startFrontend(t, backend, serverCA.server(t, "127.0.0.1", "temporal.example.com").tlsCertificate(t), clientCA, "")
	caFile := filepath.Join(dir, "ca.pem")
	writeFile(t, caFile, serverCA.pem)
	certFile, keyFile := clientCA.client(t, "ferry-worker").files(t, dir, "worker")
	secured := config.Temporal{Address: front.addr, Namespace: namespace, TLS: config.TemporalTLS{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}}

	t.Run("a good client certificate connects", func(t *testing.T) {
		cl, err := Dial(secured, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		usable(t, cl, namespace)
	})
	t.Run("no client certificate fails at start saying to set one", func(t *testing.T) {
		c := secured
		c.TLS.CertFile, c.TLS.KeyFile = "", ""
		mustSay(t, dialErr(t, c), front.addr, "refused the TLS handshake", "temporal.tls.cert_file and temporal.tls.key_file")
	})
	t.Run("a certificate of a CA the server does not trust fails naming the file", func(t *testing.T) {
		c := secured
		c.TLS.CertFile, c.TLS.KeyFile = strangerCA.client(t, "ferry-worker").files(t, dir, "stranger")
		mustSay(t, dialErr(t, c), "refused the client certificate", "temporal.tls.cert_file="+c.TLS.CertFile)
	})
	t.Run("a server certificate the CA file does not vouch for fails naming the CA file", func(t *testing.T) {
		c := secured
		c.TLS.CAFile = filepath.Join(dir, "stranger-ca.pem")
		writeFile(t, c.TLS.CAFile, strangerCA.pem)
		mustSay(t, dialErr(t, c), "server's certificate is not trusted", "temporal.tls.ca_file="+c.TLS.CAFile)
	})
	t.Run("plain TCP to a TLS frontend says to set temporal.tls", func(t *testing.T) {
		mustSay(t, dialErr(t, config.Temporal{Address: front.addr, Namespace: namespace}), "set temporal.tls")
	})
	t.Run("TLS to a server without TLS says it does not speak TLS", func(t *testing.T) {
		c := secured
		c.Address = backend
		mustSay(t, dialErr(t, c), "does not speak TLS")
	})
}

func TestAPIKeyToARealTemporal(t *testing.T) {
	st := stacktest.Require(t, stacktest.Temporal)
	backend, namespace := st.Config.Temporal.Address, st.Config.Temporal.Namespace
	dir := t.TempDir()
	serverCA := newCA(t, "cloud-ca")
	front := startFrontend(t, backend, serverCA.server(t, "127.0.0.1").tlsCertificate(t), nil, "key-one")
	caFile := filepath.Join(dir, "ca.pem")
	writeFile(t, caFile, serverCA.pem)
	keyFile := filepath.Join(dir, "api-key")
	writeFile(t, keyFile, []byte("key-one\n"))
	c := config.Temporal{Address: front.addr, Namespace: namespace, TLS: config.TemporalTLS{CAFile: caFile}, APIKeyFile: keyFile}

	cl, err := Dial(c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	usable(t, cl, namespace)

	// The key is rotated: the server takes only the new one, the file is
	// rewritten, and the running client goes on without a restart.
	front.setKey("key-two")
	writeFile(t, keyFile, []byte("key-two\n"))
	usable(t, cl, namespace)

	wrong := filepath.Join(dir, "wrong-key")
	writeFile(t, wrong, []byte("not-the-key"))
	bad := c
	bad.APIKeyFile = wrong
	mustSay(t, dialErr(t, bad), "refused Ferry's credentials", "temporal.api_key_file="+wrong)

	bad.APIKeyFile, bad.APIKey = "", "not-the-key"
	mustSay(t, dialErr(t, bad), "refused Ferry's credentials", config.APIKeyEnv)
}

func TestANamespaceWithoutFerrysSearchAttributesStopsTheStartSayingHowToRegisterThem(t *testing.T) {
	st := stacktest.Require(t, stacktest.Temporal)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	if err := CheckSearchAttributes(ctx, st.Temporal, st.Config.Temporal.Namespace, log); err != nil {
		t.Fatalf("the stack's namespace has them registered, yet: %v", err)
	}
	// A namespace created as a platform team would, before registering
	// anything.
	fresh := "ferry-fresh"
	_, err := st.Temporal.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: fresh, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = CheckSearchAttributes(ctx, st.Temporal, fresh, log)
	if err == nil {
		t.Fatal("a namespace without Ferry's search attributes passed the check")
	}
	mustSay(t, err, "namespace ferry-fresh lacks", "Partner, FileStatus, ObjectKey",
		"temporal operator search-attribute create --namespace ferry-fresh --name Partner --type Keyword",
		"tcld namespace search-attributes add --namespace ferry-fresh --search-attribute Partner=Keyword")
}
