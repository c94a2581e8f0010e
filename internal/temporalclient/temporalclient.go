// Package temporalclient dials Temporal the same way for every Ferry
// process, with the SDK logging through log/slog.
package temporalclient

import (
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/ferrydata/ferry/internal/config"
)

// Dial connects to the configured Temporal frontend and namespace. It
// fails fast, naming the address, when Temporal cannot be reached.
func Dial(c config.Temporal, logger *slog.Logger) (client.Client, error) {
	return DialWithMetrics(c, logger, nil)
}

// DialWithMetrics is Dial with the SDK's metrics (and those workflow and
// activity code record through it) going to metrics.
func DialWithMetrics(c config.Temporal, logger *slog.Logger, metrics client.MetricsHandler) (client.Client, error) {
	cl, err := client.Dial(client.Options{
		HostPort:       c.Address,
		Namespace:      c.Namespace,
		Logger:         tlog.NewStructuredLogger(logger),
		MetricsHandler: metrics,
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to Temporal at %s (namespace %s): %w; is the server running? (make run starts the local one)", c.Address, c.Namespace, err)
	}
	return cl, nil
}
