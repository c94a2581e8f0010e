package governance

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	good := []Policy{
		{},
		{Encryption: SSES3},
		{Encryption: SSEKMS, KMSKeyID: "ferry-local", RetentionMode: Compliance, RetentionDays: 3650, SourceAfterDelivery: Delete},
		{RetentionMode: Governance, RetentionDays: 1, SourceAfterDelivery: Tag},
	}
	for _, p := range good {
		if err := p.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", p, err)
		}
	}
	bad := map[string]Policy{
		"needs kms_key_id":         {Encryption: SSEKMS},
		"kms_key_id is set":        {Encryption: SSES3, KMSKeyID: "k"},
		"encryption \"AES\"":       {Encryption: "AES"},
		"needs retention_days":     {RetentionMode: Governance},
		"retention_days is set":    {RetentionDays: 5},
		"retention_mode \"LEGAL\"": {RetentionMode: "LEGAL", RetentionDays: 1},
		"source_after_delivery":    {SourceAfterDelivery: "move"},
	}
	for want, p := range bad {
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(%+v) = %v, want an error containing %q", p, err, want)
		}
	}
}

func TestRetainUntil(t *testing.T) {
	at := time.Date(2026, 11, 24, 6, 0, 0, 500, time.UTC)
	if got := (Policy{RetentionDays: 7}).RetainUntil(at); !got.Equal(time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)) {
		t.Fatalf("got %v", got)
	}
}
