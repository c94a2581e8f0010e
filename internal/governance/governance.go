// Package governance holds how a partner's delivered files must be kept:
// server-side encryption, Object Lock retention, and what happens to the
// source in the landing bucket once delivery is verified. The policy
// travels in the workflow input, so each file's history records the
// policy it was delivered under.
package governance

import (
	"fmt"
	"time"
)

// Encryption modes (S3's names).
const (
	SSES3  = "SSE-S3"
	SSEKMS = "SSE-KMS"
)

// Retention modes (S3 Object Lock's names).
const (
	Governance = "GOVERNANCE"
	Compliance = "COMPLIANCE"
)

// Source handling after a verified delivery.
const (
	Keep   = "keep"   // leave the landing object as it is
	Delete = "delete" // permanently delete the delivered version from landing
	Tag    = "tag"    // tag the landing version as delivered
)

// Policy is one partner's delivery governance.
type Policy struct {
	// Encryption is "", SSE-S3 or SSE-KMS.
	Encryption string `mapstructure:"encryption" json:"encryption,omitempty"`
	// KMSKeyID names the KMS key for SSE-KMS.
	KMSKeyID string `mapstructure:"kms_key_id" json:"kmsKeyId,omitempty"`
	// RetentionMode is "", GOVERNANCE or COMPLIANCE; the destination bucket
	// must have Object Lock enabled.
	RetentionMode string `mapstructure:"retention_mode" json:"retentionMode,omitempty"`
	// RetentionDays is how long the delivered version is locked.
	RetentionDays int `mapstructure:"retention_days" json:"retentionDays,omitempty"`
	// SourceAfterDelivery is keep (the default), delete or tag.
	SourceAfterDelivery string `mapstructure:"source_after_delivery" json:"sourceAfterDelivery,omitempty"`
}

// Validate reports the first problem, naming the field.
func (p Policy) Validate() error {
	switch p.Encryption {
	case "", SSES3:
		if p.KMSKeyID != "" {
			return fmt.Errorf("kms_key_id is set but encryption is %q: set encryption: %s", p.Encryption, SSEKMS)
		}
	case SSEKMS:
		if p.KMSKeyID == "" {
			return fmt.Errorf("encryption %s needs kms_key_id", SSEKMS)
		}
	default:
		return fmt.Errorf("encryption %q is not one of %s, %s (or empty)", p.Encryption, SSES3, SSEKMS)
	}
	switch p.RetentionMode {
	case "":
		if p.RetentionDays != 0 {
			return fmt.Errorf("retention_days is set but retention_mode is empty: set %s or %s", Governance, Compliance)
		}
	case Governance, Compliance:
		if p.RetentionDays <= 0 {
			return fmt.Errorf("retention_mode %s needs retention_days > 0", p.RetentionMode)
		}
	default:
		return fmt.Errorf("retention_mode %q is not one of %s, %s (or empty)", p.RetentionMode, Governance, Compliance)
	}
	switch p.SourceAfterDelivery {
	case "", Keep, Delete, Tag:
	default:
		return fmt.Errorf("source_after_delivery %q is not one of keep, delete, tag", p.SourceAfterDelivery)
	}
	return nil
}

// RetainUntil is when a version delivered at t stops being locked.
func (p Policy) RetainUntil(t time.Time) time.Time {
	return t.Add(time.Duration(p.RetentionDays) * 24 * time.Hour).UTC().Truncate(time.Second)
}
