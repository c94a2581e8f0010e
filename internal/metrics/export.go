package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// Path is where the metrics are served.
const Path = "/metrics"

// Service names, the OpenTelemetry resource's service.name: Prometheus
// shows it as target_info's service_name, and dashboards tell the
// processes apart by it.
const (
	WorkerService = "ferry-worker"
	BridgeService = "ferry-bridge"
)

// secondBuckets suit both a 50 ms record write and a file that waited an
// hour for its sidecar; OpenTelemetry's defaults (0 to 10000) suit
// milliseconds, not seconds.
var secondBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}

// Exporter is one process's metrics: an OpenTelemetry meter provider
// exported to its own Prometheus registry, served on Path.
type Exporter struct {
	Provider *sdkmetric.MeterProvider
	Registry *prometheus.Registry
	// Meter is Ferry's meter; the Temporal SDK gets one of its own.
	Meter metric.Meter
	// Ferry are Ferry's instruments on Meter (set by Start).
	Ferry *Instruments
}

// NewExporter builds the provider and registry (with Go runtime and
// process collectors beside Ferry's and the SDK's metrics) for the process
// named service (WorkerService, BridgeService).
func NewExporter(service string) (*Exporter, error) {
	// Without a service.name the SDK says "unknown_service:<binary>",
	// which names neither the process nor Ferry. OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES, read last, still override it, as
	// OpenTelemetry's conventions promise operators.
	res, err := resource.New(context.Background(),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("metrics: describing process %s: %w", service, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("metrics: creating the Prometheus exporter: %w", err)
	}
	seconds := sdkmetric.NewView(
		sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram, Unit: "s"},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: secondBuckets}},
	)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(exp), sdkmetric.WithView(seconds))
	return &Exporter{Provider: mp, Registry: reg, Meter: mp.Meter("github.com/ferrydata/ferry")}, nil
}

// TemporalHandler is the Temporal SDK's metrics handler on this exporter:
// set it as client.Options.MetricsHandler, and workflow code's
// workflow.GetMetricsHandler records here, skipping replays.
func (e *Exporter) TemporalHandler() client.MetricsHandler {
	return temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter:                e.Provider.Meter("temporal-sdk-go"),
		UseMonotonicCounters: true, // counters are counters (_total), not gauges
		OnError:              func(err error) { slog.Warn("metrics: recording a Temporal SDK metric failed", "error", err) },
	})
}

// Handler serves the registry in Prometheus's text format.
func (e *Exporter) Handler() http.Handler {
	return promhttp.HandlerFor(e.Registry, promhttp.HandlerOpts{Registry: e.Registry})
}

// Listen binds the metrics address now, so a start-up that cannot serve
// its metrics stops with a message naming the setting.
func Listen(field, addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s %q: cannot serve metrics there: %w (is another process, e.g. a second worker or bridge, using the port? give each process its own address)", field, addr, err)
	}
	return l, nil
}

// Serve serves Path on l until Shutdown, and every other path with ops
// when it is not nil (the process's health endpoints, internal/health:
// one operational port per process, which Kubernetes probes and
// Prometheus scrapes); log gets the error should serving stop on its own.
func (e *Exporter) Serve(l net.Listener, ops http.Handler, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, e.Handler())
	if ops != nil {
		mux.Handle("/", ops)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "address", l.Addr().String(), "error", err)
		}
	}()
	return srv
}

// Shutdown stops serving and the provider.
func (e *Exporter) Shutdown(ctx context.Context, srv *http.Server) {
	if srv != nil {
		_ = srv.Shutdown(ctx)
	}
	_ = e.Provider.Shutdown(ctx)
}

// Start builds the exporter of the process named service with Ferry's
// instruments (partners bound the partner label) and, when addr is set,
// binds addr (field names the config key, for the error) and serves Path
// there, and ops's paths beside it (see Serve). The returned func stops
// both. A bind failure is returned at once, so a process that cannot
// serve its metrics does not start.
func Start(service, field, addr string, partners []string, ops http.Handler, log *slog.Logger) (*Exporter, func(), error) {
	e, err := NewExporter(service)
	if err != nil {
		return nil, nil, err
	}
	if e.Ferry, err = NewInstruments(e.Meter, partners); err != nil {
		return nil, nil, err
	}
	var srv *http.Server
	if addr != "" {
		l, err := Listen(field, addr)
		if err != nil {
			_ = e.Provider.Shutdown(context.Background())
			return nil, nil, err
		}
		srv = e.Serve(l, ops, log)
		log.Info("serving metrics", "address", "http://"+l.Addr().String()+Path)
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.Shutdown(ctx, srv)
	}
	return e, stop, nil
}
