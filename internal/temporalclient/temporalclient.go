// Package temporalclient dials Temporal the same way for every Ferry
// process: plain TCP to a local dev server, TLS or mutual TLS to a
// self-hosted cluster, mTLS or an API key to Temporal Cloud; with the SDK
// logging through log/slog. A connection that cannot be made stops the
// process at start with a message naming the setting or file at fault.
package temporalclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/ingest"
)

// Dial connects to the configured Temporal frontend and namespace. It
// fails fast, naming the address, when Temporal cannot be reached.
func Dial(c config.Temporal, logger *slog.Logger) (client.Client, error) {
	return DialWithMetrics(c, logger, nil)
}

// DialWithMetrics is Dial with the SDK's metrics (and those workflow and
// activity code record through it) going to metrics.
func DialWithMetrics(c config.Temporal, logger *slog.Logger, metrics client.MetricsHandler) (client.Client, error) {
	opts, err := options(c, logger)
	if err != nil {
		return nil, err
	}
	opts.MetricsHandler = metrics
	// Dial asks the server for its capabilities, so a refused certificate
	// or key shows here, at start, rather than at the first workflow.
	cl, err := client.Dial(opts)
	if err != nil {
		return nil, explain(c, err, probeTLS(c.Address, opts.ConnectionOptions.TLS))
	}
	return cl, nil
}

// options are the client options for c: address, namespace, logger and
// credentials. Every file c names is read now; a missing or unusable one
// is an error naming the setting and the file.
func options(c config.Temporal, logger *slog.Logger) (client.Options, error) {
	tlsCfg, err := tlsConfig(c, logger)
	if err != nil {
		return client.Options{}, fmt.Errorf("connecting to Temporal at %s: %w", c.Address, err)
	}
	opts := client.Options{
		HostPort:          c.Address,
		Namespace:         c.Namespace,
		Logger:            tlog.NewStructuredLogger(logger),
		ConnectionOptions: client.ConnectionOptions{TLS: tlsCfg},
	}
	key, err := apiKey(c, logger)
	if err != nil {
		return client.Options{}, fmt.Errorf("connecting to Temporal at %s: %w", c.Address, err)
	}
	if key != nil {
		opts.Credentials = client.NewAPIKeyDynamicCredentials(key)
	}
	return opts, nil
}

// probeTLS makes one TLS connection as the client would and reads from it
// briefly, returning why the server refused it, if it did. gRPC reports a
// refused client certificate as whatever the socket said next (a broken
// pipe, a reset), since TLS 1.3 servers check it after the client's side
// of the handshake is done; the alert itself arrives only on a read.
func probeTLS(addr string, cfg *tls.Config) error {
	if cfg == nil {
		return nil
	}
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2"}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	// A gRPC server speaks first after the handshake (HTTP/2 settings);
	// a refusal arrives instead as an alert.
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err != nil && strings.Contains(err.Error(), "tls:") {
		return err
	}
	return nil
}

// explain turns a failed dial into what to check, naming the settings
// involved: the bare gRPC and TLS errors do not say which file is wrong.
// probed is what a TLS connection of its own learned (nil: nothing wrong
// at the TLS level, or no TLS).
func explain(c config.Temporal, err, probed error) error {
	msg := err.Error()
	if probed != nil {
		msg = probed.Error()
		err = fmt.Errorf("%w (TLS: %v)", err, probed)
	}
	where := fmt.Sprintf("connecting to Temporal at %s (namespace %s)", c.Address, c.Namespace)
	var denied *serviceerror.PermissionDenied
	switch {
	case errors.As(err, &denied) || status.Code(err) == codes.Unauthenticated || status.Code(err) == codes.PermissionDenied:
		return fmt.Errorf("%s: the server refused Ferry's credentials: %w; %s", where, err, credentialHint(c))
	case strings.Contains(msg, "remote error: tls:"):
		// The server ended the handshake: it did not accept (or did
		// not get) a client certificate.
		if c.TLS.CertFile == "" {
			return fmt.Errorf("%s: the server refused the TLS handshake (%w); it likely requires a client certificate: set temporal.tls.cert_file and temporal.tls.key_file", where, err)
		}
		return fmt.Errorf("%s: the server refused the client certificate temporal.tls.cert_file=%s (%w); check that it is issued by a CA the server trusts for this namespace, and not expired or revoked", where, c.TLS.CertFile, err)
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "tls: failed to verify"):
		ca := "the system's trusted roots"
		if c.TLS.CAFile != "" {
			ca = "temporal.tls.ca_file=" + c.TLS.CAFile
		}
		return fmt.Errorf("%s: the server's certificate is not trusted (%w); check that %s holds the CA that issued it and that temporal.tls.server_name (or the address's host) is a name in it", where, err, ca)
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return fmt.Errorf("%s: the server does not speak TLS (%w); remove temporal.tls and the API key, or use its TLS port", where, err)
	case !c.On() && (strings.Contains(msg, "server preface") || strings.Contains(msg, "connection reset") || strings.Contains(msg, "EOF")):
		return fmt.Errorf("%s: the connection was closed during set-up (%w); if the server requires TLS, set temporal.tls (and a client certificate or API key)", where, err)
	}
	return fmt.Errorf("%s: %w; is the server running? (make run starts the local one)", where, err)
}

// credentialHint names where the credentials the server refused came from.
func credentialHint(c config.Temporal) string {
	switch {
	case c.APIKey != "":
		return "check the API key in " + config.APIKeyEnv + " (valid, not expired, with access to this namespace)"
	case c.APIKeyFile != "":
		return "check the API key in temporal.api_key_file=" + c.APIKeyFile + " (valid, not expired, with access to this namespace)"
	case c.TLS.CertFile != "":
		return "check that the client certificate temporal.tls.cert_file=" + c.TLS.CertFile + " is accepted for this namespace"
	}
	return "the server requires credentials: set an API key (" + config.APIKeyEnv + " or temporal.api_key_file) or a client certificate (temporal.tls.cert_file, temporal.tls.key_file)"
}

// CheckSearchAttributes returns an error, saying how to register them,
// when the namespace lacks any of Ferry's search attributes: without them
// every workflow start fails, so a process finds out at start, not at the
// first upload. A server that does not let Ferry list them (a narrow
// Temporal Cloud API key role) only gets a warning.
func CheckSearchAttributes(ctx context.Context, cl client.Client, namespace string, log *slog.Logger) error {
	resp, err := cl.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		log.Warn("could not list the namespace's search attributes; make sure Ferry's are registered (README, \"A secured Temporal\")",
			"namespace", namespace, "error", err)
		return nil
	}
	var missing, self, cloud []string
	for _, a := range ingest.SearchAttributes {
		if _, ok := resp.GetCustomAttributes()[a.GetName()]; ok {
			continue
		}
		typ := a.GetValueType().String()
		missing = append(missing, a.GetName())
		self = append(self, fmt.Sprintf("temporal operator search-attribute create --namespace %s --name %s --type %s", namespace, a.GetName(), typ))
		cloud = append(cloud, fmt.Sprintf("--search-attribute %s=%s", a.GetName(), typ))
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("the Temporal namespace %s lacks Ferry's search attributes %s, so no file's workflow could start; register them once: on a self-hosted cluster with\n  %s\nor on Temporal Cloud with\n  tcld namespace search-attributes add --namespace %s %s",
		namespace, strings.Join(missing, ", "), strings.Join(self, "\n  "), namespace, strings.Join(cloud, " "))
}
