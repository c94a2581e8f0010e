// Package stacktest gives tests the real local stack (Temporal dev server,
// MinIO with SFTP, dynalite, Ferry's worker and bridge). Require starts the
// stack with deploy/local/stack.sh when it is not running and reuses it when
// it is, so a test that needs it never skips.
package stacktest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/awsclients"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/temporalclient"
)

// Stack is a running local stack.
type Stack struct {
	Root     string // repository root
	Env      map[string]string
	Config   *config.Config
	AWS      *awsclients.Clients
	Temporal client.Client
}

var (
	once     sync.Once
	shared   *Stack
	startErr error
)

// Require returns the local stack, starting it first if needed. All tests
// of one test binary share it.
func Require(t testing.TB) *Stack {
	t.Helper()
	once.Do(func() { shared, startErr = start() })
	if startErr != nil {
		t.Fatalf("local stack: %v", startErr)
	}
	return shared
}

func start() (*Stack, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	// stack.sh up is idempotent and serialized by a lock, so test binaries
	// running in parallel may all call it.
	cmd := exec.Command(filepath.Join(root, "deploy/local/stack.sh"), "up")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("deploy/local/stack.sh up: %w\n%s", err, out)
	}
	env, err := readEnv(filepath.Join(root, ".ferry/stack.env"))
	if err != nil {
		return nil, err
	}
	for k, v := range env {
		if k != "PATH" {
			os.Setenv(k, v)
		}
	}
	cfg, err := config.Load(nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clients, err := awsclients.Load(ctx, cfg.S3.PathStyle)
	if err != nil {
		return nil, err
	}
	tc, err := temporalclient.Dial(cfg.Temporal, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	return &Stack{Root: root, Env: env, Config: cfg, AWS: clients, Temporal: tc}, nil
}

// TemporalCLI is the path of the pinned temporal CLI the stack uses.
func (s *Stack) TemporalCLI() string {
	for _, dir := range strings.Split(s.Env["PATH"], ":") {
		if p := filepath.Join(dir, "temporal"); strings.Contains(dir, "ferry") {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	return "temporal"
}

// PartnerPassword is a partner's SFTP password.
func (s *Stack) PartnerPassword(t testing.TB, partner string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Env["FERRY_SECRETS_DIR"], "partners", partner))
	if err != nil {
		t.Fatalf("partner %s's password: %v", partner, err)
	}
	return strings.TrimSpace(string(b))
}

// Unique returns a name no other test run uses: prefix plus random hex.
func Unique(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Bucket creates a fresh versioned bucket (with Object Lock if asked) for
// one test, away from the landing bucket so no notification fires, and
// empties and removes it when the test ends.
func (s *Stack) Bucket(t testing.TB, objectLock bool) string {
	t.Helper()
	name := Unique("ferry-test-")
	ctx := context.Background()
	c := s.AWS.S3
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name), ObjectLockEnabledForBucket: aws.Bool(objectLock)}); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket: aws.String(name), VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	}); err != nil {
		t.Fatalf("versioning bucket %s: %v", name, err)
	}
	t.Cleanup(func() { s.removeBucket(t, name) })
	return name
}

func (s *Stack) removeBucket(t testing.TB, name string) {
	s.RemoveVersions(t, name, "")
	if _, err := s.AWS.S3.DeleteBucket(context.Background(), &s3.DeleteBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Logf("removing bucket %s: %v", name, err)
	}
}

// RemoveVersions deletes every version and delete marker below prefix,
// freeing the space test files take on a developer's stack. GOVERNANCE
// retention is bypassed (the stack's admin may); COMPLIANCE cannot be.
func (s *Stack) RemoveVersions(t testing.TB, bucket, prefix string) {
	ctx := context.Background()
	p := s3.NewListObjectVersionsPaginator(s.AWS.S3, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Logf("cleaning s3://%s/%s: %v", bucket, prefix, err)
			return
		}
		for _, v := range page.Versions {
			if _, err := s.AWS.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: v.Key, VersionId: v.VersionId, BypassGovernanceRetention: aws.Bool(true)}); err != nil {
				t.Logf("cleaning s3://%s/%s: %v", bucket, aws.ToString(v.Key), err)
			}
		}
		for _, m := range page.DeleteMarkers {
			_, _ = s.AWS.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: m.Key, VersionId: m.VersionId})
		}
	}
}

// Up runs stack.sh up again, which starts whatever process of the stack
// is not running (tests that stop the worker or the bridge call it).
func (s *Stack) Up(t testing.TB) {
	t.Helper()
	cmd := exec.Command(filepath.Join(s.Root, "deploy/local/stack.sh"), "up")
	cmd.Dir = s.Root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("deploy/local/stack.sh up: %v\n%s", err, out)
	}
}

// Count is how many workflow executions match a visibility query (which
// is eventually consistent: poll for what must appear).
func (s *Stack) Count(t testing.TB, query string) int {
	t.Helper()
	resp, err := s.Temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
	if err != nil {
		t.Fatalf("listing workflows %q: %v", query, err)
	}
	return len(resp.Executions)
}

// Runs is how many executions the workflow ID has had.
func (s *Stack) Runs(t testing.TB, id string) int {
	t.Helper()
	return s.Count(t, fmt.Sprintf("WorkflowId = '%s'", id))
}

// FilesTable creates a fresh files table for one test.
func (s *Stack) FilesTable(t testing.TB) *filestore.Store {
	return filestore.New(s.AWS.DynamoDB, s.table(t, "ferry-files-test-", filestore.CreateTable))
}

// AuditTable creates a fresh audit table for one test.
func (s *Stack) AuditTable(t testing.TB) *audit.Store {
	return &audit.Store{DB: s.AWS.DynamoDB, Table: s.table(t, "ferry-audit-test-", audit.CreateTable)}
}

// table creates a uniquely named table with create and deletes it when
// the test ends.
func (s *Stack) table(t testing.TB, prefix string, create func(context.Context, *dynamodb.Client, string) error) string {
	t.Helper()
	name := Unique(prefix)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := create(ctx, s.AWS.DynamoDB, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = s.AWS.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return name
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// readEnv reads the export lines stack.sh writes.
func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the stack's environment: %w", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export ")
		if !ok {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env, sc.Err()
}
