//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// Who wrote a file and from where, as MinIO's event says, is in the status
// query, the record, the audit trail's first entry and ferry show — for an
// upload over SFTP (the partner's login) and one over the S3 API (the
// access key that signed it).
func TestProvenanceOfSFTPAndS3Uploads(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	accessKey := st.Env["AWS_ACCESS_KEY_ID"]
	if accessKey == "" {
		t.Fatal("the stack's environment names no AWS_ACCESS_KEY_ID")
	}
	tests := []struct {
		name, principal string
		upload          func(t *testing.T, key string, body []byte) string // returns the workflow ID
	}{
		{"sftp", "acme", func(t *testing.T, key string, body []byte) string {
			name := strings.TrimPrefix(key, "acme/inbound/")
			if out, err := sftpBatch(t, st, "acme", "cd /landing/acme/inbound", "put "+localFile(t, name, body)); err != nil {
				t.Fatalf("sftp upload failed: %v\n%s", err, out)
			}
			return findWorkflow(t, st, fmt.Sprintf(`Partner="acme" AND ObjectKey=%q`, key))
		}},
		{"s3 api", accessKey, func(t *testing.T, key string, body []byte) string {
			put, err := st.AWS.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("landing"), Key: aws.String(key), Body: bytes.NewReader(body)})
			if err != nil {
				t.Fatal(err)
			}
			id := fileid.WorkflowID("acme", "landing", key, aws.ToString(put.VersionId))
			waitStarted(t, st, id, 30*time.Second)
			return id
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now().Add(-time.Minute)
			key := stacktest.Unique("acme/inbound/provenance-") + ".csv"
			id := tt.upload(t, key, []byte("id,qty\n1,2\n"))
			if res := waitResult(t, st, id); res.Status != filestatus.Delivered {
				t.Fatalf("result %+v, want delivered", res)
			}
			check := func(where string, p *ingest.Provenance) {
				t.Helper()
				switch {
				case p == nil:
					t.Fatalf("%s: no provenance", where)
				case p.Principal != tt.principal || p.SourceIP != "127.0.0.1" || p.RequestID == "" || p.EventTime.Before(before) || p.EventTime.After(time.Now()) || p.Note != "":
					t.Fatalf("%s: provenance %+v, want principal %s from 127.0.0.1 with a request ID and the event's time", where, p, tt.principal)
				}
			}

			// The status query.
			state := waitStage(t, st, id, filestatus.Delivered)
			check("status query", state.Provenance)
			p := *state.Provenance

			// The record holds the same.
			rec, err := filestore.New(st.AWS.DynamoDB, st.Config.DynamoDB.FilesTable).Get(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			check("record", rec.Provenance())
			if got := *rec.Provenance(); got.RequestID != p.RequestID || !got.EventTime.Equal(p.EventTime) {
				t.Fatalf("record provenance %+v differs from the status query's %+v", got, p)
			}

			// The audit trail's first entry says it.
			trail, err := (&audit.Store{DB: st.AWS.DynamoDB, Table: st.Config.DynamoDB.AuditTable}).List(context.Background(), id)
			if err != nil || len(trail) == 0 {
				t.Fatalf("audit trail: %v, %d entries", err, len(trail))
			}
			if want := "provenance: " + p.String(); !strings.HasSuffix(trail[0].Details, want) {
				t.Fatalf("first audit entry %q does not end with %q", trail[0].Details, want)
			}

			// And ferry show.
			out, err := ferryCmd(t, st, "show", "--workflow-id", id)
			shown := false
			for _, line := range strings.Split(out, "\n") {
				if k, v, _ := strings.Cut(line, " "); k == "provenance" && strings.TrimSpace(v) == p.String() {
					shown = true
				}
			}
			if err != nil || !shown || !strings.Contains(p.String(), "principal "+tt.principal+", source ip 127.0.0.1, request id "+p.RequestID+", event time ") {
				t.Fatalf("ferry show: %v, want a provenance line %q\n%s", err, p.String(), out)
			}
		})
	}
}
