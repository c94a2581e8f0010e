//go:build integration

package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// The file's record holds the governance S3 reports for the delivered
// version, never what was asked. acme's (deploy/local/ferry.yaml) is
// SSE-KMS and a GOVERNANCE retention: MinIO applies both and the file is
// delivered with them; versitygw takes the SSE-KMS headers and encrypts
// nothing, so the delivery fails and the record says why and claims no
// encryption, retention or delivered version. deploy/local/test.sh runs
// this test on both servers (FERRY_TEST_S3).
func TestWorkerRecordsTheGovernanceS3Applied(t *testing.T) {
	st := stacktest.Require(t, stacktest.Temporal, stacktest.S3, stacktest.DynamoDB, stacktest.Clamd)
	provision(t, st)
	startWorker(t)
	ctx := context.Background()
	p := ingestCSV(t, st, "governed-")

	files := filestore.New(st.AWS.DynamoDB, st.Config.DynamoDB.FilesTable)
	var rec *filestore.File
	stacktest.Eventually(t, time.Minute, func() (bool, string) {
		var err error
		rec, err = files.Get(ctx, p.WorkflowID)
		if err != nil {
			return false, err.Error()
		}
		return rec.Status == filestatus.Delivered || rec.Status == filestatus.Failed, fmt.Sprintf("%s is %s", p.WorkflowID, rec.Status)
	})
	switch st.S3Server {
	case stacktest.VersityGW:
		reasons := strings.Join(rec.Reasons, "; ")
		if rec.Status != filestatus.Failed || !strings.Contains(reasons, "asked for SSE-KMS (aws:kms) with key ferry-local, S3 reports no server-side encryption: this S3 does not apply SSE-KMS: use an S3 that does, or change partners.acme.governance.encryption") {
			t.Fatalf("on versitygw the file is %s for %q; want failed, saying SSE-KMS was not applied and what to do", rec.Status, reasons)
		}
		if rec.Encryption != "" || rec.KMSKeyID != "" || rec.RetentionMode != "" || rec.RetainUntil != "" || rec.DestVersionID != "" {
			t.Fatalf("the record of a delivery that failed verification claims governance: encryption %q key %q retention %q until %q version %q",
				rec.Encryption, rec.KMSKeyID, rec.RetentionMode, rec.RetainUntil, rec.DestVersionID)
		}
	default:
		if rec.Status != filestatus.Delivered || rec.Encryption != "aws:kms" || !strings.HasSuffix(rec.KMSKeyID, stacktest.KMSKeyID) ||
			rec.RetentionMode != "GOVERNANCE" || rec.RetainUntil == "" || rec.DestVersionID == "" {
			t.Fatalf("on %s the file is %s (%v) with encryption %q key %q retention %q until %q version %q; want delivered with SSE-KMS and GOVERNANCE retention",
				st.S3Server, rec.Status, rec.Reasons, rec.Encryption, rec.KMSKeyID, rec.RetentionMode, rec.RetainUntil, rec.DestVersionID)
		}
	}
}
