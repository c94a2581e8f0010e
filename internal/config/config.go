// Package config loads Ferry's one YAML configuration file, with every
// scalar setting overridable by a FERRY_* environment variable (dots become
// underscores: bridge.auth_token is FERRY_BRIDGE_AUTH_TOKEN) and by the
// flags a command binds. A wrong or missing field stops start-up with a
// message naming the field.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/expect"
	"github.com/ferrydata/ferry/internal/governance"
	"github.com/ferrydata/ferry/internal/rules"
)

// Config is the whole of Ferry's configuration.
type Config struct {
	Temporal   Temporal           `mapstructure:"temporal"`
	S3         S3                 `mapstructure:"s3"`
	Landing    Landing            `mapstructure:"landing"`
	Quarantine Bucket             `mapstructure:"quarantine"`
	DynamoDB   DynamoDB           `mapstructure:"dynamodb"`
	Bridge     Bridge             `mapstructure:"bridge"`
	Worker     Worker             `mapstructure:"worker"`
	Delivery   Delivery           `mapstructure:"delivery"`
	Reconcile  Reconcile          `mapstructure:"reconcile"`
	Notify     Notify             `mapstructure:"notify"`
	Metrics    Metrics            `mapstructure:"metrics"`
	Audit      Audit              `mapstructure:"audit"`
	Scanner    Scanner            `mapstructure:"scanner"`
	Log        Log                `mapstructure:"log"`
	Partners   map[string]Partner `mapstructure:"partners"`
}

// Temporal says where the Temporal frontend is, how to authenticate to it
// and which task queue Ferry uses.
type Temporal struct {
	Address   string      `mapstructure:"address"`
	Namespace string      `mapstructure:"namespace"`
	TaskQueue string      `mapstructure:"task_queue"`
	TLS       TemporalTLS `mapstructure:"tls"`
	// APIKeyFile names a file holding an API key (Temporal Cloud), sent
	// as a bearer token on every call and read again when the file
	// changes, so a rotated key needs no restart. The key may instead
	// come from FERRY_TEMPORAL_API_KEY; it never lives in this file.
	APIKeyFile string `mapstructure:"api_key_file"`
	// APIKey is read from FERRY_TEMPORAL_API_KEY by Load.
	APIKey string `mapstructure:"-"`
}

// APIKeyEnv is the environment variable an API key for Temporal may come
// from (temporal.api_key_file is the other way).
const APIKeyEnv = "FERRY_TEMPORAL_API_KEY"

// TemporalTLS secures the connection to Temporal: a self-hosted cluster
// with mTLS, or Temporal Cloud with mTLS or an API key. Every file is
// read again when it changes, so rotated certificates need no restart.
type TemporalTLS struct {
	// Enabled turns TLS on with the system's roots and no client
	// certificate; setting any file below, or an API key, implies it.
	Enabled bool `mapstructure:"enabled"`
	// CAFile is the PEM bundle the server's certificate must chain to;
	// empty trusts the system's roots (right for Temporal Cloud).
	CAFile string `mapstructure:"ca_file"`
	// ServerName is the name the server's certificate must carry when it
	// differs from the address's host (a cluster behind a load balancer).
	ServerName string `mapstructure:"server_name"`
	// CertFile and KeyFile are the client certificate and its key (PEM)
	// for mutual TLS.
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
}

// On reports whether the connection to Temporal uses TLS.
func (t Temporal) On() bool {
	return t.TLS.Enabled || t.TLS.CAFile != "" || t.TLS.CertFile != "" || t.TLS.ServerName != "" || t.APIKeyFile != "" || t.APIKey != ""
}

// S3 holds client settings. Endpoints never live here: they come from the
// AWS config chain (AWS_ENDPOINT_URL_S3 and friends).
type S3 struct {
	// PathStyle addresses buckets as /bucket/key, which MinIO needs.
	PathStyle bool `mapstructure:"path_style"`
}

// Bucket names one bucket.
type Bucket struct {
	Bucket string `mapstructure:"bucket"`
}

// Landing is the bucket partners upload into.
type Landing struct {
	Bucket string `mapstructure:"bucket"`
	// TemporarySuffixes are the endings SFTP clients give a file while it
	// uploads (WinSCP .filepart, FileZilla/others .part, .tmp); such objects
	// are not ingested, the renamed final file is.
	TemporarySuffixes []string `mapstructure:"temporary_suffixes"`
}

// DynamoDB names Ferry's tables.
type DynamoDB struct {
	FilesTable string `mapstructure:"files_table"`
	// AuditTable holds the append-only, hash-chained audit trail.
	AuditTable string `mapstructure:"audit_table"`
}

// Bridge configures the HTTP endpoint that receives S3 event notifications.
type Bridge struct {
	Listen string `mapstructure:"listen"`
	// AuthToken is the bearer token senders must present. Keep it out of
	// the file: set FERRY_BRIDGE_AUTH_TOKEN.
	AuthToken string `mapstructure:"auth_token"`
	// HMACSecret, when set, also accepts requests signed with
	// X-Ferry-Signature: sha256=<hex HMAC-SHA256 of the body>. Keep it out
	// of the file: FERRY_BRIDGE_HMAC_SECRET.
	HMACSecret   string `mapstructure:"hmac_secret"`
	MaxBodyBytes int64  `mapstructure:"max_body_bytes"`
	// MaxConcurrentStarts and StartsPerSecond bound what the bridge asks
	// of Temporal; beyond them a sender is told to retry (503), so a burst
	// of uploads is delayed, never dropped.
	MaxConcurrentStarts int     `mapstructure:"max_concurrent_starts"`
	StartsPerSecond     float64 `mapstructure:"starts_per_second"`
	// QueueWait is how long a request may wait for a start slot before
	// it is told to retry.
	QueueWait time.Duration `mapstructure:"queue_wait"`
	// SQS, when Queue is set, also consumes S3 event notifications from
	// an SQS queue (the production path in AWS).
	SQS SQS `mapstructure:"sqs"`
}

// SQS configures the bridge's queue consumer.
type SQS struct {
	// Queue is the queue's URL or name (a name is looked up with
	// GetQueueUrl, so no endpoint needs to live in the config). Empty
	// turns the consumer off.
	Queue string `mapstructure:"queue"`
	// DeadLetterQueue (URL or name) receives messages that cannot become
	// a workflow start: malformed ones at once, others after MaxReceives
	// failed receives, each with the reason as a message attribute. Empty
	// leaves failing messages to the queue's own redrive policy.
	DeadLetterQueue string `mapstructure:"dead_letter_queue"`
	MaxReceives     int    `mapstructure:"max_receives"`
	// VisibilityTimeout hides a received message from other consumers;
	// the bridge extends it while a start is slow.
	VisibilityTimeout time.Duration `mapstructure:"visibility_timeout"`
	// WaitTime is the long-poll wait of each receive (at most 20s).
	WaitTime time.Duration `mapstructure:"wait_time"`
	// Concurrency bounds the messages handled at once.
	Concurrency int `mapstructure:"concurrency"`
	// ShutdownGrace is how long in-flight messages may finish after
	// SIGTERM before they are released back to the queue.
	ShutdownGrace time.Duration `mapstructure:"shutdown_grace"`
}

// Worker configures the worker process.
type Worker struct {
	// StopTimeout is how long a stopping worker (SIGTERM) lets running
	// activity attempts finish before it cancels them; a cancelled
	// attempt is retried by another worker (a multipart copy continues
	// its upload). An orchestrator's grace period must be longer
	// (Kubernetes: terminationGracePeriodSeconds; the Helm chart's test
	// checks it).
	StopTimeout time.Duration `mapstructure:"stop_timeout"`
}

// Reconcile configures the reconciler, which starts what no event started.
type Reconcile struct {
	// Interval between runs of the reconcile schedule.
	Interval time.Duration `mapstructure:"interval"`
	// Grace is how long an event may take to arrive: the reconciler
	// leaves a version younger than this to its event and starts it on a
	// later run if no event did. A version a second old was usually
	// announced by an event still on its way (in S3's queue, in a
	// bridge's SQS batch, held while Temporal was down); started by the
	// reconciler it would count as a lost event
	// (ferry_reconcile_files_without_event_total) and page operators
	// (FerryEventsLost) on every busy hour.
	Grace time.Duration `mapstructure:"grace"`
}

// Delivery tunes server-side copies.
type Delivery struct {
	// MultipartThresholdBytes: larger objects are copied in parts
	// (at most 5 GiB, S3's CopyObject limit).
	MultipartThresholdBytes int64 `mapstructure:"multipart_threshold_bytes"`
	PartSizeBytes           int64 `mapstructure:"part_size_bytes"`
	CopyConcurrency         int   `mapstructure:"copy_concurrency"`
	// SmallFileMaxBytes: files up to this size are inspected and delivered
	// by local activities of the worker running their workflow, without a
	// dispatch through the server each (the small-file fast path); larger
	// ones, and PGP uploads, by regular activities that heartbeat. 0 turns
	// the fast path off. At most MultipartThresholdBytes.
	SmallFileMaxBytes int64 `mapstructure:"small_file_max_bytes"`
}

// Notify lists where Ferry announces what happened to a file: webhooks
// and SNS topics, each sent every notification its route matches.
type Notify struct {
	Webhooks []Webhook     `mapstructure:"webhooks"`
	SNS      []SNSTopic    `mapstructure:"sns"`
	Timeout  time.Duration `mapstructure:"timeout"`
}

// NotificationTypes are the notifications Ferry sends (notify.Event's Type).
var NotificationTypes = append([]string{"file.delivered", "file.quarantined", "file.rejected", "file.failed", "file.reminder", "file.escalated"}, expect.Types...)

// Route restricts a notification target to some partners and/or types;
// an empty list matches all.
type Route struct {
	Partners []string `mapstructure:"partners"`
	Types    []string `mapstructure:"types"`
}

// Matches reports whether a notification of typ about partner's file goes
// to the target.
func (r Route) Matches(partner, typ string) bool {
	return (len(r.Partners) == 0 || slices.Contains(r.Partners, partner)) &&
		(len(r.Types) == 0 || slices.Contains(r.Types, typ))
}

// Webhook is one HTTP endpoint that receives a JSON notification per outcome.
type Webhook struct {
	Name string `mapstructure:"name"`
	URL  string `mapstructure:"url"`
	// SecretEnv names the environment variable holding the webhook's HMAC
	// secret; with it every post carries X-Ferry-Signature. The secret
	// itself never lives in the file.
	SecretEnv string `mapstructure:"secret_env"`
	// Secret is read from SecretEnv by Load.
	Secret string `mapstructure:"-"`
	Route  `mapstructure:",squash"`
}

// SNSTopic is one SNS topic that receives the JSON notification, with the
// message attributes type, partner and status for filter policies.
type SNSTopic struct {
	Name string `mapstructure:"name"`
	// Topic is the topic's ARN, or its name (looked up with ListTopics,
	// so no account or region lives in the config).
	Topic string `mapstructure:"topic"`
	Route `mapstructure:",squash"`
}

var (
	snsTopicName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}(\.fifo)?$`)
	snsTopicARN  = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$`)
)

// IsTopicARN reports whether topic is an SNS topic ARN rather than a name.
func IsTopicARN(topic string) bool { return strings.HasPrefix(topic, "arn:") }

// Metrics says where each process serves Prometheus metrics on /metrics.
// Worker and bridge have an address each, so both can run on one machine;
// empty serves none.
type Metrics struct {
	WorkerListen string `mapstructure:"worker_listen"`
	BridgeListen string `mapstructure:"bridge_listen"`
}

// Audit configures the worker's checks of the audit trail.
type Audit struct {
	// VerifyInterval is how often the worker recomputes the hash chains
	// of the files whose record changed since its last pass, counting a
	// broken one in ferry_audit_verification_failures_total; 0 turns it
	// off (ferry audit still verifies on demand).
	VerifyInterval time.Duration `mapstructure:"verify_interval"`
	// Anchor is where the chains' heads are anchored (internal/anchor).
	Anchor AuditAnchor `mapstructure:"anchor"`
}

// AuditAnchor configures the anchoring of the audit chains' heads in a
// bucket with S3 Object Lock in COMPLIANCE mode (internal/anchor): at
// every final status and every Interval, so that a chain recomputed
// wholesale in DynamoDB no longer matches what was anchored.
type AuditAnchor struct {
	// Bucket has Object Lock enabled; empty turns anchoring off.
	Bucket string `mapstructure:"bucket"`
	// RetentionDays is how long each anchor object is locked in
	// COMPLIANCE mode: nobody, root included, can delete it before.
	RetentionDays int `mapstructure:"retention_days"`
	// Interval is how often the ferry-audit-anchor schedule writes a
	// checkpoint of the chains that changed.
	Interval time.Duration `mapstructure:"interval"`
	// Key signs every anchor (HMAC-SHA256). From FERRY_AUDIT_ANCHOR_KEY,
	// never the file: whoever can rewrite DynamoDB must not hold it.
	Key string `mapstructure:"key"`
}

// AnchorKeyEnv is the variable that holds audit.anchor.key.
const AnchorKeyEnv = "FERRY_AUDIT_ANCHOR_KEY"

// minAnchorKey is the shortest anchor key accepted: an HMAC key shorter
// than 16 bytes can be guessed.
const minAnchorKey = 16

// Scanner is the malware scanner that partners' rules.scan feeds during
// inspection: a ClamAV clamd, spoken to over its INSTREAM protocol.
type Scanner struct {
	// Clamd is clamd's address: tcp://host:port or unix:///path/to/clamd.ctl.
	Clamd string `mapstructure:"clamd"`
	// Timeout bounds each exchange with clamd (a write of a chunk, the
	// verdict after the last one, which comes once clamd scanned the whole
	// stream: keep it above clamd's MaxScanTime); a scan that exceeds it
	// is retried.
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxStreamBytes is the most Ferry streams to clamd. It must not
	// exceed clamd's StreamMaxLength (nor MaxScanSize, MaxFileSize): a
	// larger file is too large to scan and gets its partner's
	// rules.scan_too_large.
	MaxStreamBytes int64 `mapstructure:"max_stream_bytes"`
}

// Log configures log/slog.
type Log struct {
	// Format is "text" (for people) or "json" (one object per line, for
	// CloudWatch Logs Insights, Loki and other shippers).
	Format string `mapstructure:"format"`
	// Level is debug, info, warn or error.
	Level string `mapstructure:"level"`
}

// Partner is one partner's destination, rules and delivery governance.
type Partner struct {
	Destination Destination       `mapstructure:"destination"`
	Rules       rules.Rules       `mapstructure:"rules"`
	Governance  governance.Policy `mapstructure:"governance"`
	// Approval says who may release or reject the partner's quarantined
	// files; with no approvers a quarantined file simply stays quarantined.
	Approval approval.Policy `mapstructure:"approval"`
	// Decrypt is "pgp" when the partner encrypts files to Ferry's PGP key
	// (PGP says with which); empty otherwise, and an encrypted upload is
	// then quarantined.
	Decrypt string `mapstructure:"decrypt"`
	PGP     PGP    `mapstructure:"pgp"`
	// Batch, when set, makes every folder below the partner's inbound/ a
	// batch: its files are released together once its manifest's list is
	// complete and matches (internal/batch). Nil: each file on its own.
	Batch *Batch `mapstructure:"batch"`
	// Expectations are the files the partner should deliver on a
	// calendar; a file late or missing is announced (internal/expect).
	Expectations []expect.Spec `mapstructure:"expectations"`
}

// Batch is a partner's batch policy.
type Batch struct {
	// Manifest lists the name patterns (path.Match, no '/') of manifests:
	// "*.manifest.json" (JSON) or "*.sha256" (sha256sum output).
	Manifest []string `mapstructure:"manifest"`
	// Timeout is how long a batch may take from its first file's arrival
	// before it is quarantined as a whole with what is missing.
	Timeout time.Duration `mapstructure:"timeout"`
}

func (b *Batch) validate(field string, p Partner) []error {
	if b == nil {
		return nil
	}
	var errs []error
	if len(b.Manifest) == 0 {
		errs = append(errs, fmt.Errorf(`%s.batch.manifest is required: the name patterns of manifests, like ["*.manifest.json"] or ["*.sha256"]`, field))
	}
	for i, pat := range b.Manifest {
		_, err := path.Match(pat, "")
		switch {
		case strings.TrimSpace(pat) == "" || err != nil || strings.Contains(pat, "/"):
			errs = append(errs, fmt.Errorf("%s.batch.manifest[%d] %q must be a file name pattern like *.manifest.json (no '/')", field, i, pat))
		case p.Rules.Sidecar.Required && strings.HasSuffix(strings.ToLower(pat), rules.SidecarSuffix):
			errs = append(errs, fmt.Errorf("%s.batch.manifest[%d] %q ends in %s, which this partner's rules.sidecar reserves for checksum sidecars: use another name or turn the sidecar off", field, i, pat, rules.SidecarSuffix))
		}
	}
	if b.Timeout < time.Second {
		errs = append(errs, fmt.Errorf("%s.batch.timeout must be a duration of at least 1s, like 2h (how long a batch may take to arrive), got %s", field, b.Timeout))
	}
	return errs
}

// DecryptPGP is Partner.Decrypt's one value.
const DecryptPGP = "pgp"

// PGP names a partner's decryption key and signing keys. The files are
// read by the worker at start; the key and its passphrase never live in
// this file.
type PGP struct {
	// PrivateKeyFile holds Ferry's private key for this partner (armored
	// or binary); the partner encrypts to its public part.
	PrivateKeyFile string `mapstructure:"private_key_file"`
	// PassphraseFile or PassphraseEnv holds the key's passphrase
	// (neither: the key is not protected).
	PassphraseFile string `mapstructure:"passphrase_file"`
	PassphraseEnv  string `mapstructure:"passphrase_env"`
	// SignerKeyFiles are the partner's public signing keys.
	SignerKeyFiles []string `mapstructure:"signer_key_files"`
	// RequireSignature refuses a file without a valid signature by one
	// of SignerKeyFiles.
	RequireSignature bool `mapstructure:"require_signature"`
	// Required refuses files that are not encrypted.
	Required bool `mapstructure:"required"`
	// MaxPlaintextBytes bounds a file's plaintext (default: the
	// partner's rules.max_size_bytes, or 5 TiB, S3's object limit).
	MaxPlaintextBytes int64 `mapstructure:"max_plaintext_bytes"`
	// MaxExpansion bounds the plaintext to this multiple of the
	// ciphertext (default 1000): a compressed bomb stops early.
	MaxExpansion int64 `mapstructure:"max_expansion"`
}

func (p *PGP) relativeTo(dir string) {
	abs := func(f string) string {
		if f == "" || filepath.IsAbs(f) {
			return f
		}
		return filepath.Join(dir, f)
	}
	p.PrivateKeyFile, p.PassphraseFile = abs(p.PrivateKeyFile), abs(p.PassphraseFile)
	files := make([]string, len(p.SignerKeyFiles))
	for i, f := range p.SignerKeyFiles {
		files[i] = abs(f)
	}
	p.SignerKeyFiles = files
}

// Passphrase reads the passphrase of the partner's key from its file or
// variable; nil when the key has none.
func (p PGP) Passphrase() ([]byte, error) {
	switch {
	case p.PassphraseFile != "":
		b, err := os.ReadFile(p.PassphraseFile)
		if err != nil {
			return nil, fmt.Errorf("reading the PGP passphrase: %w", err)
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	case p.PassphraseEnv != "":
		v, ok := os.LookupEnv(p.PassphraseEnv)
		if !ok || v == "" {
			return nil, fmt.Errorf("the PGP passphrase variable %s is unset or empty", p.PassphraseEnv)
		}
		return []byte(v), nil
	}
	return nil, nil
}

// Limits are the bounds on a file's plaintext, with their defaults.
func (p PGP) Limits(r rules.Rules) (maxPlaintext, maxExpansion int64) {
	maxPlaintext, maxExpansion = p.MaxPlaintextBytes, p.MaxExpansion
	if maxPlaintext == 0 {
		maxPlaintext = r.MaxSizeBytes
	}
	if maxPlaintext == 0 {
		maxPlaintext = 5 << 40
	}
	if maxExpansion == 0 {
		maxExpansion = 1000
	}
	return maxPlaintext, maxExpansion
}

// Destination is where a partner's accepted files are delivered.
type Destination struct {
	Bucket string `mapstructure:"bucket"`
	// Prefix is prepended to the file's path below <partner>/inbound/.
	Prefix string `mapstructure:"prefix"`
}

var partnerName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{2,31}$`)

// defaults also make every scalar key known to viper, which is what lets
// FERRY_* variables override keys that the file leaves out.
var defaults = map[string]any{
	"temporal.address":                   "127.0.0.1:7233",
	"temporal.namespace":                 "default",
	"temporal.task_queue":                "ferry-ingest",
	"temporal.tls.enabled":               false,
	"temporal.tls.ca_file":               "",
	"temporal.tls.server_name":           "",
	"temporal.tls.cert_file":             "",
	"temporal.tls.key_file":              "",
	"temporal.api_key_file":              "",
	"s3.path_style":                      false,
	"landing.bucket":                     "",
	"landing.temporary_suffixes":         []string{".part", ".filepart", ".tmp", ".partial", ".crdownload"},
	"quarantine.bucket":                  "",
	"dynamodb.audit_table":               "ferry-audit",
	"dynamodb.files_table":               "ferry-files",
	"bridge.listen":                      "127.0.0.1:8085",
	"bridge.auth_token":                  "",
	"bridge.max_body_bytes":              1 << 20,
	"bridge.hmac_secret":                 "",
	"bridge.max_concurrent_starts":       32,
	"bridge.starts_per_second":           100,
	"bridge.queue_wait":                  "5s",
	"bridge.sqs.queue":                   "",
	"bridge.sqs.dead_letter_queue":       "",
	"bridge.sqs.max_receives":            10,
	"bridge.sqs.visibility_timeout":      "60s",
	"bridge.sqs.wait_time":               "20s",
	"bridge.sqs.concurrency":             16,
	"bridge.sqs.shutdown_grace":          "20s",
	"worker.stop_timeout":                "30s",
	"delivery.multipart_threshold_bytes": 5 << 30,
	"delivery.small_file_max_bytes":      8 << 20,
	"delivery.part_size_bytes":           256 << 20,
	"delivery.copy_concurrency":          4,
	"reconcile.interval":                 "15m",
	"reconcile.grace":                    "5m",
	"notify.timeout":                     "10s",
	"metrics.worker_listen":              "",
	"metrics.bridge_listen":              "",
	"audit.verify_interval":              "1h",
	"audit.anchor.bucket":                "",
	"audit.anchor.retention_days":        2557, // 7 years, a common GxP record retention
	"audit.anchor.interval":              "1h",
	"audit.anchor.key":                   "",
	"scanner.clamd":                      "",
	"scanner.timeout":                    "3m",
	"scanner.max_stream_bytes":           100 << 20,
	"log.format":                         "text",
	"log.level":                          "info",
}

// configFlags are the config keys every Ferry process accepts as flags.
var configFlags = map[string]string{
	"temporal.address":   "Temporal frontend host:port",
	"temporal.namespace": "Temporal namespace",
	"bridge.listen":      "address the bridge listens on",
}

// BindFlags adds the flags every Ferry process shares. Flag names are the
// config keys, so --temporal.address overrides temporal.address. A
// command's own flags are left to the command.
func BindFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "path of the YAML config file (or FERRY_CONFIG)")
	for name, usage := range configFlags {
		fs.String(name, "", usage)
	}
}

// FromArgs binds the shared flags to fs (after a command's own), parses
// args and loads the config: what every Ferry command does first.
func FromArgs(fs *pflag.FlagSet, args []string) (*Config, error) {
	BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return Load(fs)
}

// Load reads the file named by --config or FERRY_CONFIG, applies FERRY_*
// variables and set flags, and validates the result.
func Load(fs *pflag.FlagSet) (*Config, error) {
	v := viper.New()
	for k, d := range defaults {
		v.SetDefault(k, d)
	}
	v.SetEnvPrefix("FERRY")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()

	path := os.Getenv("FERRY_CONFIG")
	if fs != nil {
		if f := fs.Lookup("config"); f != nil && f.Changed {
			path = f.Value.String()
		}
		var bindErr error
		fs.VisitAll(func(f *pflag.Flag) {
			if _, ok := configFlags[f.Name]; ok && f.Changed && bindErr == nil {
				bindErr = v.BindPFlag(f.Name, f)
			}
		})
		if bindErr != nil {
			return nil, fmt.Errorf("config: binding flags: %w", bindErr)
		}
	}
	if path == "" {
		return nil, errors.New("config: no config file given: pass --config FILE or set FERRY_CONFIG (the local stack's is deploy/local/ferry.yaml)")
	}
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("config: reading %s: %w", path, err)
	}
	if v.InConfig("temporal.api_key") {
		return nil, fmt.Errorf("config: %s: temporal.api_key must not be in the config file, which is not a secret store: set %s or point temporal.api_key_file at a file holding the key", path, APIKeyEnv)
	}
	var c Config
	// UnmarshalExact refuses unknown keys, so a misspelt field is an error
	// naming it rather than a silently ignored setting.
	if err := v.UnmarshalExact(&c); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	c.Temporal.APIKey = strings.TrimSpace(os.Getenv(APIKeyEnv))
	// Key files named relative to the config file, wherever a process
	// runs from.
	for name, p := range c.Partners {
		p.PGP.relativeTo(filepath.Dir(path))
		c.Partners[name] = p
	}
	for i := range c.Notify.Webhooks {
		if env := c.Notify.Webhooks[i].SecretEnv; env != "" {
			c.Notify.Webhooks[i].Secret = os.Getenv(env)
		}
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return &c, nil
}

// validateAnchor checks audit.anchor when anchoring is on.
func (c *Config) validateAnchor() []error {
	a := c.Audit.Anchor
	if a.Bucket == "" {
		if a.Key != "" {
			return []error{fmt.Errorf("audit.anchor.key is set but audit.anchor.bucket is not: set the bucket (with Object Lock) to anchor the audit chains, or drop the key")}
		}
		return nil
	}
	var errs []error
	if a.RetentionDays < 1 || a.RetentionDays > 36500 {
		errs = append(errs, fmt.Errorf("audit.anchor.retention_days must be 1 to 36500, got %d", a.RetentionDays))
	}
	if a.Interval < time.Minute {
		errs = append(errs, fmt.Errorf("audit.anchor.interval must be at least 1m, got %s", a.Interval))
	}
	if a.Key != "" && len(a.Key) < minAnchorKey {
		errs = append(errs, fmt.Errorf("audit.anchor.key (%s) must be at least %d characters, got %d: generate one with head -c 32 /dev/urandom | base64", AnchorKeyEnv, minAnchorKey, len(a.Key)))
	}
	for field, b := range map[string]string{"landing.bucket": c.Landing.Bucket, "quarantine.bucket": c.Quarantine.Bucket} {
		if a.Bucket == b {
			errs = append(errs, fmt.Errorf("audit.anchor.bucket must be a bucket of its own, not %s (%s)", field, b))
		}
	}
	return errs
}

// Validate returns every problem found, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	need := func(field, val string) {
		if strings.TrimSpace(val) == "" {
			errs = append(errs, fmt.Errorf("%s is required", field))
		}
	}
	need("temporal.address", c.Temporal.Address)
	need("temporal.namespace", c.Temporal.Namespace)
	need("temporal.task_queue", c.Temporal.TaskQueue)
	if t := c.Temporal.TLS; (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("temporal.tls.cert_file and temporal.tls.key_file go together: give both (mutual TLS) or neither"))
	}
	if c.Temporal.APIKey != "" && c.Temporal.APIKeyFile != "" {
		errs = append(errs, fmt.Errorf("the Temporal API key comes from both %s and temporal.api_key_file: keep one", APIKeyEnv))
	}
	need("landing.bucket", c.Landing.Bucket)
	need("quarantine.bucket", c.Quarantine.Bucket)
	need("dynamodb.files_table", c.DynamoDB.FilesTable)
	need("dynamodb.audit_table", c.DynamoDB.AuditTable)
	need("bridge.listen", c.Bridge.Listen)
	if c.Bridge.MaxConcurrentStarts < 1 || c.Bridge.StartsPerSecond <= 0 || c.Bridge.QueueWait <= 0 {
		errs = append(errs, fmt.Errorf("bridge.max_concurrent_starts, bridge.starts_per_second and bridge.queue_wait must be positive"))
	}
	if q := c.Bridge.SQS; q.Queue != "" {
		if q.MaxReceives < 1 || q.Concurrency < 1 {
			errs = append(errs, fmt.Errorf("bridge.sqs.max_receives and bridge.sqs.concurrency must be at least 1"))
		}
		if q.VisibilityTimeout < 2*time.Second || q.VisibilityTimeout > 12*time.Hour {
			errs = append(errs, fmt.Errorf("bridge.sqs.visibility_timeout must be between 2s and 12h (SQS's limit), got %s", q.VisibilityTimeout))
		}
		if q.WaitTime < 0 || q.WaitTime > 20*time.Second {
			errs = append(errs, fmt.Errorf("bridge.sqs.wait_time must be between 0 and 20s (SQS's long-poll limit), got %s", q.WaitTime))
		}
		if q.ShutdownGrace < 0 {
			errs = append(errs, fmt.Errorf("bridge.sqs.shutdown_grace must not be negative"))
		}
		if q.DeadLetterQueue == q.Queue {
			errs = append(errs, fmt.Errorf("bridge.sqs.dead_letter_queue must differ from bridge.sqs.queue"))
		}
	}
	if c.Worker.StopTimeout < 0 {
		errs = append(errs, fmt.Errorf("worker.stop_timeout must not be negative (0 cancels running activities at once), got %s", c.Worker.StopTimeout))
	}
	if c.Bridge.MaxBodyBytes <= 0 {
		errs = append(errs, fmt.Errorf("bridge.max_body_bytes must be positive, got %d", c.Bridge.MaxBodyBytes))
	}
	if c.Quarantine.Bucket != "" && c.Quarantine.Bucket == c.Landing.Bucket {
		errs = append(errs, errors.New("quarantine.bucket must differ from landing.bucket, or Ferry would ingest what it quarantines"))
	}
	for i, sfx := range c.Landing.TemporarySuffixes {
		if !strings.HasPrefix(sfx, ".") || len(sfx) < 2 {
			errs = append(errs, fmt.Errorf("landing.temporary_suffixes[%d] %q must start with '.'", i, sfx))
		}
	}
	if d := c.Delivery; d.MultipartThresholdBytes < 5<<20 || d.MultipartThresholdBytes > 5<<30 {
		errs = append(errs, fmt.Errorf("delivery.multipart_threshold_bytes must be between 5 MiB and 5 GiB (S3's CopyObject limit), got %d", d.MultipartThresholdBytes))
	}
	if d := c.Delivery; d.PartSizeBytes < 5<<20 || d.PartSizeBytes > 5<<30 {
		errs = append(errs, fmt.Errorf("delivery.part_size_bytes must be between 5 MiB and 5 GiB (S3's part limits), got %d", d.PartSizeBytes))
	}
	if d := c.Delivery; d.SmallFileMaxBytes < 0 || d.SmallFileMaxBytes > d.MultipartThresholdBytes {
		errs = append(errs, fmt.Errorf("delivery.small_file_max_bytes must be between 0 (no fast path) and delivery.multipart_threshold_bytes (%d), got %d: a small file is copied in one CopyObject", d.MultipartThresholdBytes, d.SmallFileMaxBytes))
	}
	if c.Delivery.CopyConcurrency < 1 || c.Delivery.CopyConcurrency > 64 {
		errs = append(errs, fmt.Errorf("delivery.copy_concurrency must be 1 to 64, got %d", c.Delivery.CopyConcurrency))
	}
	if c.Reconcile.Interval < time.Minute {
		errs = append(errs, fmt.Errorf("reconcile.interval must be at least 1m, got %s", c.Reconcile.Interval))
	}
	if c.Reconcile.Grace < 0 {
		errs = append(errs, fmt.Errorf("reconcile.grace must be a duration of 0 or more like 5m, got %s", c.Reconcile.Grace))
	}
	if c.Notify.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("notify.timeout must be a positive duration like 10s"))
	}
	errs = append(errs, c.validateNotify()...)
	for field, addr := range map[string]string{"metrics.worker_listen": c.Metrics.WorkerListen, "metrics.bridge_listen": c.Metrics.BridgeListen} {
		if _, port, err := net.SplitHostPort(addr); addr != "" && (err != nil || port == "") {
			errs = append(errs, fmt.Errorf("%s %q must be host:port, like 127.0.0.1:9464 (or empty for no metrics)", field, addr))
		}
	}
	if c.Metrics.WorkerListen != "" && c.Metrics.WorkerListen == c.Metrics.BridgeListen {
		errs = append(errs, fmt.Errorf("metrics.worker_listen and metrics.bridge_listen must differ: worker and bridge may run on one machine"))
	}
	if v := c.Audit.VerifyInterval; v != 0 && v < time.Minute {
		errs = append(errs, fmt.Errorf("audit.verify_interval must be 0 (off) or at least 1m, got %s", v))
	}
	errs = append(errs, c.validateAnchor()...)
	errs = append(errs, c.validateScanner()...)
	if f := strings.ToLower(c.Log.Format); f != "text" && f != "json" {
		errs = append(errs, fmt.Errorf("log.format must be text or json, got %q", c.Log.Format))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Log.Level)); err != nil {
		errs = append(errs, fmt.Errorf("log.level must be debug, info, warn or error, got %q", c.Log.Level))
	}
	if len(c.Partners) == 0 {
		errs = append(errs, errors.New("partners: at least one partner is required"))
	}
	for _, name := range c.PartnerNames() {
		p := c.Partners[name]
		field := "partners." + name
		if !partnerName.MatchString(name) {
			errs = append(errs, fmt.Errorf("%s: partner name must be 3-32 characters of a-z, 0-9 and '-' (it is the landing prefix and the SFTP login)", field))
		}
		need(field+".destination.bucket", p.Destination.Bucket)
		if p.Destination.Prefix != "" && !strings.HasSuffix(p.Destination.Prefix, "/") {
			errs = append(errs, fmt.Errorf("%s.destination.prefix %q must end with '/'", field, p.Destination.Prefix))
		}
		if p.Destination.Bucket == c.Landing.Bucket && c.Landing.Bucket != "" {
			errs = append(errs, fmt.Errorf("%s.destination.bucket must differ from landing.bucket, or Ferry would ingest its own deliveries", field))
		}
		if p.Destination.Bucket == c.Quarantine.Bucket && c.Quarantine.Bucket != "" {
			errs = append(errs, fmt.Errorf("%s.destination.bucket must differ from quarantine.bucket", field))
		}
		if err := p.Approval.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s.approval.%w", field, err))
		}
		if err := p.Governance.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s.governance.%w", field, err))
		}
		if err := p.Rules.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s.rules.%w", field, err))
		}
		if p.Rules.Scan && c.Scanner.Clamd == "" {
			errs = append(errs, fmt.Errorf("%s.rules.scan is on but no scanner is configured: set scanner.clamd (tcp://host:3310 or unix:///path/to/clamd.ctl)", field))
		}
		errs = append(errs, c.validatePGP(field, p)...)
		errs = append(errs, p.Batch.validate(field, p)...)
		names := map[string]int{}
		for i, e := range p.Expectations {
			f := fmt.Sprintf("%s.expectations[%d]", field, i)
			errs = append(errs, e.Check(f)...)
			if j, dup := names[e.Name]; dup && e.Name != "" {
				errs = append(errs, fmt.Errorf("%s.name %q is also %s.expectations[%d]'s: a partner's expectations need distinct names", f, e.Name, field, j))
			}
			names[e.Name] = i
		}
	}
	return errors.Join(errs...)
}

// Expectations lists every partner's expectations, partners in order.
func (c *Config) Expectations() []expect.Expectation {
	var all []expect.Expectation
	for _, name := range c.PartnerNames() {
		for _, s := range c.Partners[name].Expectations {
			all = append(all, expect.Expectation{Partner: name, Spec: s})
		}
	}
	return all
}

func (c *Config) validateScanner() []error {
	var errs []error
	s := c.Scanner
	if s.Clamd != "" && !strings.HasPrefix(s.Clamd, "tcp://") && !strings.HasPrefix(s.Clamd, "unix://") {
		errs = append(errs, fmt.Errorf("scanner.clamd %q must be tcp://host:port or unix:///path/to/clamd.ctl", s.Clamd))
	}
	if s.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("scanner.timeout must be a positive duration like 2m"))
	}
	// clamd's StreamMaxLength is at most 4 GiB.
	if s.MaxStreamBytes < 1 || s.MaxStreamBytes > 4<<30 {
		errs = append(errs, fmt.Errorf("scanner.max_stream_bytes must be between 1 and 4 GiB (clamd's largest StreamMaxLength), got %d", s.MaxStreamBytes))
	}
	return errs
}

func (c *Config) validatePGP(field string, p Partner) []error {
	var errs []error
	g := p.PGP
	switch p.Decrypt {
	case "":
		if g.PrivateKeyFile != "" || len(g.SignerKeyFiles) > 0 {
			errs = append(errs, fmt.Errorf("%s.pgp is set but %s.decrypt is not: set decrypt: pgp to decrypt this partner's files", field, field))
		}
		return errs
	case DecryptPGP:
	default:
		return append(errs, fmt.Errorf("%s.decrypt %q is not supported: use pgp (or leave it out)", field, p.Decrypt))
	}
	if g.PrivateKeyFile == "" {
		errs = append(errs, fmt.Errorf("%s.pgp.private_key_file is required with decrypt: pgp (Ferry's private key for this partner; the partner encrypts to its public part)", field))
	}
	if g.PassphraseFile != "" && g.PassphraseEnv != "" {
		errs = append(errs, fmt.Errorf("%s.pgp: passphrase_file and passphrase_env are both set: keep one", field))
	}
	if g.RequireSignature && len(g.SignerKeyFiles) == 0 {
		errs = append(errs, fmt.Errorf("%s.pgp.require_signature needs signer_key_files: the partner's public signing keys", field))
	}
	if g.MaxPlaintextBytes < 0 || g.MaxExpansion < 0 {
		errs = append(errs, fmt.Errorf("%s.pgp.max_plaintext_bytes and max_expansion must not be negative", field))
	}
	if c.Quarantine.Bucket == "" {
		errs = append(errs, fmt.Errorf("%s.decrypt: pgp writes plaintext under plaintext/ in the quarantine bucket: set quarantine.bucket", field))
	}
	return errs
}

func (c *Config) validateNotify() []error {
	var errs []error
	names := map[string]string{}
	target := func(field, name string, r Route) {
		if name == "" {
			errs = append(errs, fmt.Errorf("%s.name is required", field))
		} else if other, dup := names[name]; dup {
			errs = append(errs, fmt.Errorf("%s.name %q is also %s's: notification targets need distinct names", field, name, other))
		}
		names[name] = field
		for j, p := range r.Partners {
			if !c.HasPartner(p) {
				errs = append(errs, fmt.Errorf("%s.partners[%d] %q is not a configured partner (%v)", field, j, p, c.PartnerNames()))
			}
		}
		for j, t := range r.Types {
			if !slices.Contains(NotificationTypes, t) {
				errs = append(errs, fmt.Errorf("%s.types[%d] %q is not a notification type (%v)", field, j, t, NotificationTypes))
			}
		}
	}
	for i, w := range c.Notify.Webhooks {
		field := fmt.Sprintf("notify.webhooks[%d]", i)
		target(field, w.Name, w.Route)
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s.url %q must be an http(s) URL", field, w.URL))
		}
		if w.SecretEnv != "" && w.Secret == "" {
			errs = append(errs, fmt.Errorf("%s.secret_env: the environment variable %s is unset or empty; set it to the webhook's HMAC secret", field, w.SecretEnv))
		}
	}
	for i, s := range c.Notify.SNS {
		field := fmt.Sprintf("notify.sns[%d]", i)
		target(field, s.Name, s.Route)
		switch {
		case s.Topic == "":
			errs = append(errs, fmt.Errorf("%s.topic is required (a topic ARN or name)", field))
		case IsTopicARN(s.Topic) && !snsTopicARN.MatchString(s.Topic):
			errs = append(errs, fmt.Errorf("%s.topic %q is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)", field, s.Topic))
		case !IsTopicARN(s.Topic) && !snsTopicName.MatchString(s.Topic):
			errs = append(errs, fmt.Errorf("%s.topic %q is not an SNS topic name (1-256 of A-Z, a-z, 0-9, '-', '_', optionally ending .fifo)", field, s.Topic))
		}
	}
	return errs
}

// PartnerNames returns the configured partners in a stable order.
func (c *Config) PartnerNames() []string {
	names := make([]string, 0, len(c.Partners))
	for n := range c.Partners {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// CheckPartner returns an error naming the configured partners when name
// is not one of them (operator commands' --partner).
func (c *Config) CheckPartner(name string) error {
	if !c.HasPartner(name) {
		return fmt.Errorf("unknown partner %q: the config lists %v", name, c.PartnerNames())
	}
	return nil
}

// HasPartner reports whether name is a configured partner.
func (c *Config) HasPartner(name string) bool {
	_, ok := c.Partners[name]
	return ok
}
