// Package configrender renders Ferry's config file from the outputs of
// Ferry's Terraform module (deploy/terraform/modules/ferry, output
// ferry_config) merged into a base file that holds what Terraform does
// not know: partners' rules, governance and approvers, Temporal's address,
// webhooks. What Terraform created wins over the base: bucket, table,
// queue and topic names, and each partner's destination.
//
// The rendered file is checked as Ferry checks its config at start
// (config.Load), so a file that renders is one Ferry accepts.
package configrender

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/governance"
)

// OutputName is the Terraform output the renderer reads.
const OutputName = "ferry_config"

// SNSTargetName is the notify.sns target the rendered file gives the
// module's notification topic.
const SNSTargetName = "aws-notifications"

// Outputs is the module's ferry_config output (outputs.tf): the keys are
// the contract between the module and this package.
type Outputs struct {
	Region               string             `json:"region"`
	LandingBucket        string             `json:"landing_bucket"`
	QuarantineBucket     string             `json:"quarantine_bucket"`
	DeliveredBucket      string             `json:"delivered_bucket"`
	FilesTable           string             `json:"files_table"`
	AuditTable           string             `json:"audit_table"`
	AnchorBucket         string             `json:"anchor_bucket"`
	AnchorRetentionDays  int                `json:"anchor_retention"`
	EventsQueue          string             `json:"events_queue"`
	DeadLetterQueue      string             `json:"dead_letter_queue"`
	MaxReceives          int                `json:"max_receives"`
	VisibilityTimeout    string             `json:"visibility_timeout"`
	NotificationTopicARN string             `json:"notification_topic_arn"`
	KMSKeyARN            string             `json:"kms_key_arn"`
	RetentionMode        string             `json:"retention_mode"`
	RetentionDays        int                `json:"retention_days"`
	Partners             map[string]Partner `json:"partners"`
}

// Partner is one partner's part of the output.
type Partner struct {
	DestinationBucket string `json:"destination_bucket"`
	DestinationPrefix string `json:"destination_prefix"`
}

// ParseOutputs reads `terraform output -json` (all outputs, with
// ferry_config among them) or `terraform output -json ferry_config` (its
// value alone).
func ParseOutputs(b []byte) (*Outputs, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, fmt.Errorf("terraform outputs are not a JSON object (pipe `terraform output -json` in): %w", err)
	}
	raw := json.RawMessage(b)
	if wrapped, ok := all[OutputName]; ok {
		var out struct {
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(wrapped, &out); err != nil || out.Value == nil {
			return nil, fmt.Errorf("output %s has no value: %v", OutputName, err)
		}
		raw = out.Value
	} else if _, ok := all["landing_bucket"]; !ok {
		return nil, fmt.Errorf("no output %s in the terraform outputs: run `terraform output -json` in the root module that calls deploy/terraform/modules/ferry, and output its %s as %s (see deploy/terraform/examples/complete)", OutputName, OutputName, OutputName)
	}
	var o Outputs
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("output %s: %w", OutputName, err)
	}
	var missing []string
	for field, v := range map[string]string{
		"landing_bucket": o.LandingBucket, "quarantine_bucket": o.QuarantineBucket, "files_table": o.FilesTable,
		"audit_table": o.AuditTable, "events_queue": o.EventsQueue, "dead_letter_queue": o.DeadLetterQueue,
		"visibility_timeout": o.VisibilityTimeout, "notification_topic_arn": o.NotificationTopicARN, "kms_key_arn": o.KMSKeyARN,
	} {
		if v == "" {
			missing = append(missing, field)
		}
	}
	if len(o.Partners) == 0 {
		missing = append(missing, "partners")
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("output %s lacks %s: is the module older than this ferry? Apply the module of the same release", OutputName, strings.Join(missing, ", "))
	}
	return &o, nil
}

// Render merges the outputs into base (YAML, may be empty) and returns
// the config file, checked as Ferry checks it at start. Secrets named by
// notify.webhooks[].secret_env must be set, as they must when Ferry starts.
func Render(o *Outputs, base []byte) ([]byte, error) {
	doc := map[string]any{}
	if err := yaml.Unmarshal(base, &doc); err != nil {
		return nil, fmt.Errorf("base config: %w", err)
	}
	if doc == nil {
		doc = map[string]any{}
	}
	set(doc, o.LandingBucket, "landing", "bucket")
	set(doc, o.QuarantineBucket, "quarantine", "bucket")
	set(doc, o.FilesTable, "dynamodb", "files_table")
	set(doc, o.AuditTable, "dynamodb", "audit_table")
	// An older module has no anchors bucket: the base file decides.
	if o.AnchorBucket != "" {
		set(doc, o.AnchorBucket, "audit", "anchor", "bucket")
		set(doc, o.AnchorRetentionDays, "audit", "anchor", "retention_days")
	}
	// The bridge moves a failing message to the DLQ after max_receives,
	// with the reason, before the queue's own redrive would.
	set(doc, o.EventsQueue, "bridge", "sqs", "queue")
	set(doc, o.DeadLetterQueue, "bridge", "sqs", "dead_letter_queue")
	set(doc, o.MaxReceives, "bridge", "sqs", "max_receives")
	set(doc, o.VisibilityTimeout, "bridge", "sqs", "visibility_timeout")
	if err := setTopic(doc, o.NotificationTopicARN); err != nil {
		return nil, err
	}
	if err := setPartners(doc, o); err != nil {
		return nil, err
	}

	body, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "# Rendered by `ferry config from-terraform` from Terraform's %s output (region %s)\n", OutputName, o.Region)
	out.WriteString("# and a base file. Change the base or the Terraform, and render again.\n")
	out.Write(body)
	if _, err := Load(out.Bytes()); err != nil {
		return nil, fmt.Errorf("the rendered config is not one Ferry accepts (fix the base file or the Terraform): %w", err)
	}
	return out.Bytes(), nil
}

// setTopic points the notify.sns target SNSTargetName at the module's
// topic, adding it (for every notification: subscribers filter on the
// message attributes) unless the base names that topic already.
func setTopic(doc map[string]any, arn string) error {
	notify, _ := doc["notify"].(map[string]any)
	if notify == nil {
		notify = map[string]any{}
		doc["notify"] = notify
	}
	targets, ok := notify["sns"].([]any)
	if !ok && notify["sns"] != nil {
		return errors.New("base config: notify.sns must be a list")
	}
	for _, t := range targets {
		m, _ := t.(map[string]any)
		if m == nil {
			continue
		}
		if m["topic"] == arn {
			return nil
		}
		if m["name"] == SNSTargetName {
			m["topic"] = arn
			return nil
		}
	}
	notify["sns"] = append(targets, map[string]any{"name": SNSTargetName, "topic": arn})
	return nil
}

// setPartners gives every Terraform partner its destination and, where
// the base says nothing else, the module's governance: SSE-KMS with its
// key and the delivered bucket's retention.
func setPartners(doc map[string]any, o *Outputs) error {
	partners, _ := doc["partners"].(map[string]any)
	if partners == nil {
		partners = map[string]any{}
		doc["partners"] = partners
	}
	var unknown []string
	for name := range partners {
		if _, ok := o.Partners[name]; !ok {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("base config: partners %s are not in Terraform's partners (%s): they would have no SFTP login; add them to the module's partners variable or remove them from the base", strings.Join(unknown, ", "), strings.Join(slices.Sorted(maps.Keys(o.Partners)), ", "))
	}
	for name, tp := range o.Partners {
		p, _ := partners[name].(map[string]any)
		if p == nil {
			p = map[string]any{}
			partners[name] = p
		}
		set(p, tp.DestinationBucket, "destination", "bucket")
		set(p, tp.DestinationPrefix, "destination", "prefix")
		gov, _ := p["governance"].(map[string]any)
		if gov == nil {
			p["governance"] = map[string]any{
				"encryption":     governance.SSEKMS,
				"kms_key_id":     o.KMSKeyARN,
				"retention_mode": o.RetentionMode,
				"retention_days": o.RetentionDays,
			}
			continue
		}
		if gov["encryption"] == governance.SSEKMS && gov["kms_key_id"] == nil {
			gov["kms_key_id"] = o.KMSKeyARN
		}
	}
	return nil
}

// set puts v at path in doc, creating maps on the way.
func set(doc map[string]any, v any, path ...string) {
	m := doc
	for _, k := range path[:len(path)-1] {
		next, _ := m[k].(map[string]any)
		if next == nil {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

// Load loads a rendered file as Ferry does at start (FERRY_* variables
// and webhook secrets from the environment included).
func Load(rendered []byte) (*config.Config, error) {
	dir, err := os.MkdirTemp("", "ferry-config-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "ferry.yaml")
	if err := os.WriteFile(path, rendered, 0o600); err != nil {
		return nil, err
	}
	return config.FromArgs(pflag.NewFlagSet("render", pflag.ContinueOnError), []string{"--config", path})
}
