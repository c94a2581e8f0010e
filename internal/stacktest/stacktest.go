// Package stacktest gives tests the real services they declare:
//
//	func TestMain(m *testing.M) { stacktest.Main(m) }
//
//	st := stacktest.Require(t, stacktest.S3, stacktest.DynamoDB)
//
// Temporal, S3, DynamoDB, SQS, SNS and clamd are started for the test binary alone, on
// free ports, the first time a test declares them, and stopped by Main when
// its tests are done: a package's tests start in a second or two and may
// run beside other packages' tests. Ferry declares Ferry itself (its
// worker and bridge, MinIO's webhook to the bridge and its SFTP server):
// the local stack of deploy/local/stack.sh on its fixed ports, reused when
// it runs and otherwise started, and then stopped by Main. One test binary
// uses one or the other, never both.
//
// S3 is MinIO unless FERRY_TEST_S3=versitygw (S3ServerEnv) selects
// versitygw for the run of a test binary, so that the tests of Ferry's S3
// calls pass on a second implementation of the API; Stack.S3Server says
// which runs, for the tests that say per server what a user sees where the
// two differ. deploy/local/test.sh runs the S3 packages' tests with each.
// The local stack always runs MinIO.
//
// Tools come from deploy/local/install.sh (pinned, cached, installed when
// missing), so a test that needs a service never skips: it has it, or fails
// saying why. The test files that use this package carry a build tag
// (integration, e2e), so that go test ./... runs without services; see
// the README's Tests section.
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
	"slices"
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
	tlog "go.temporal.io/sdk/log"

	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/awsclients"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/filestore"
)

// Service is something a test needs running.
type Service int

const (
	// Temporal is a Temporal dev server (the pinned CLI) with Ferry's
	// search attributes, in the config's namespace, storing in SQLite as
	// the local stack's does.
	Temporal Service = iota + 1
	// S3 is MinIO, with its built-in KMS holding the key KMSKeyID; or,
	// when FERRY_TEST_S3=versitygw (S3ServerEnv), versitygw with versioning
	// and no KMS. Stack.S3Server says which.
	S3
	// DynamoDB is dynalite.
	DynamoDB
	// SQS is local-aws-sqs.
	SQS
	// SNS is goaws, which serves SNS and its own SQS queues (reach those
	// with GoAWSSQS) on one port.
	SNS
	// Clamd is ClamAV's clamd with the local stack's config and signature
	// database (deploy/local/clamav: EICAR only), its limits at
	// ClamdMaxStreamBytes, on TCP (ClamdAddress, also in
	// FERRY_SCANNER_CLAMD) and a unix socket (ClamdSocketAddress).
	Clamd
	// Ferry is the whole local stack (deploy/local/stack.sh): the services
	// above plus Ferry's worker and bridge, the webhook sink and MinIO's
	// SFTP server and webhook, provisioned from deploy/local/ferry.yaml.
	Ferry
)

func (s Service) String() string {
	switch s {
	case Temporal:
		return "Temporal"
	case S3:
		return "S3"
	case DynamoDB:
		return "DynamoDB"
	case SQS:
		return "SQS"
	case SNS:
		return "SNS"
	case Clamd:
		return "clamd"
	case Ferry:
		return "Ferry"
	}
	return fmt.Sprintf("Service(%d)", int(s))
}

// KMSKeyID is the key MinIO's built-in KMS holds, here and on the local
// stack (deploy/local/ferry.yaml names it for acme), so SSE-KMS is real.
const KMSKeyID = "ferry-local"

// Stack is what a test binary's tests are given: clients of the services
// and the configuration (deploy/local/ferry.yaml) pointed at them. Clients
// of a service no test declared reach nothing.
type Stack struct {
	Root     string            // repository root
	Env      map[string]string // how the services are reached (AWS_*, FERRY_*), set in this process too
	Config   *config.Config
	AWS      *awsclients.Clients
	Temporal client.Client
	// S3Server is the S3 implementation serving S3: MinIO unless
	// S3ServerEnv selects another for the binary's own services.
	S3Server S3Server

	tools tools
	local bool // the local stack (Ferry), not services of the binary's own
}

// run is the test binary's state, guarded by its mutex.
var run struct {
	sync.Mutex
	main         bool   // Main runs the tests
	stack        *Stack // set up by the first Require
	err          error  // setting up failed: every Require says so
	own          ownServices
	startedLocal bool // this binary started the local stack, so Main stops it
}

// Require returns the stack with the given services running, starting
// those that are not; all tests of a test binary share them. It fails the
// test when a service cannot be had. Require(t) alone gives the
// configuration and starts nothing.
func Require(t testing.TB, services ...Service) *Stack {
	t.Helper()
	st, err := require(services)
	if err != nil {
		t.Fatalf("stacktest: %v", err)
	}
	return st
}

func require(services []Service) (*Stack, error) {
	run.Lock()
	defer run.Unlock()
	if !run.main {
		return nil, errors.New("the package's TestMain must call stacktest.Main, which stops the services its tests start: func TestMain(m *testing.M) { stacktest.Main(m) }")
	}
	local := slices.Contains(services, Ferry)
	if run.stack == nil && run.err == nil {
		if local {
			run.stack, run.err = startLocal()
		} else {
			run.stack, run.err = setUpOwn()
		}
	}
	if run.err != nil {
		return nil, run.err
	}
	switch {
	case run.stack.local:
		return run.stack, nil // it has every service
	case local:
		return nil, errors.New("this test binary runs services of its own on free ports; tests that need Ferry's processes (stacktest.Ferry) belong in a package whose tests all declare it, like internal/e2e")
	}
	for _, s := range services {
		if err := run.own.start(run.stack, s); err != nil {
			return nil, err
		}
	}
	return run.stack, nil
}

// Main runs the package's tests, then stops what Require started for them
// (the services of its own; the local stack if it was not running before).
// Call it from TestMain in every package whose tests use Require.
func Main(m *testing.M) {
	run.Lock()
	run.main = true
	run.Unlock()
	code := m.Run()
	if err := shutDown(); err != nil {
		fmt.Fprintln(os.Stderr, "stacktest:", err)
		code = max(code, 1)
	}
	os.Exit(code)
}

func shutDown() error {
	run.Lock()
	defer run.Unlock()
	if run.stack == nil {
		return nil
	}
	run.stack.Temporal.Close()
	err := run.own.stop()
	if run.startedLocal {
		if out, e := stackSh(run.stack.Root, "down"); e != nil {
			err = errors.Join(err, fmt.Errorf("deploy/local/stack.sh down: %w\n%s", e, out))
		}
	}
	return err
}

// connect points this process at the services env names (the AWS SDK and
// Ferry's config read the environment) and builds clients for them.
func connect(root string, env map[string]string, tl tools, local bool) (*Stack, error) {
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
	// Lazy: Temporal may be declared by a later test than this one.
	tc, err := client.NewLazyClient(client.Options{HostPort: cfg.Temporal.Address, Namespace: cfg.Temporal.Namespace, Logger: discardLogger})
	if err != nil {
		return nil, err
	}
	return &Stack{Root: root, Env: env, Config: cfg, AWS: clients, Temporal: tc, tools: tl, local: local, S3Server: MinIO}, nil
}

var discardLogger = tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))

// tools are the paths deploy/local/install.sh reports.
type tools struct {
	temporal, minio, versitygw, goaws, nodeModules, clamd, chromium string
}

// install finds the repository and runs its deploy/local/install.sh,
// which installs what is missing (one caller at a time per machine) and
// reports where the tools are.
func install() (root string, tl tools, err error) {
	if root, err = repoRoot(); err != nil {
		return "", tools{}, err
	}
	cmd := exec.Command(filepath.Join(root, "deploy/local/install.sh"))
	cmd.Stderr = os.Stderr // a first build takes minutes: say so
	out, err := cmd.Output()
	if err != nil {
		return "", tools{}, fmt.Errorf("deploy/local/install.sh: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "TEMPORAL_BIN":
			tl.temporal = v
		case "MINIO_BIN":
			tl.minio = v
		case "VERSITYGW_BIN":
			tl.versitygw = v
		case "GOAWS_BIN":
			tl.goaws = v
		case "NODE_MODULES":
			tl.nodeModules = v
		case "CLAMD":
			tl.clamd = v
		case "CHROMIUM_BIN":
			tl.chromium = v
		}
	}
	if tl.temporal == "" || tl.minio == "" || tl.versitygw == "" || tl.goaws == "" || tl.nodeModules == "" || tl.clamd == "" || tl.chromium == "" {
		return "", tools{}, fmt.Errorf("deploy/local/install.sh reported no tool paths:\n%s", out)
	}
	return root, tl, nil
}

// Chromium is the path of the pinned headless browser (Debian's chromium).
func (s *Stack) Chromium() string { return s.tools.chromium }

// TemporalCLI is the path of the pinned temporal CLI.
func (s *Stack) TemporalCLI() string { return s.tools.temporal }

// PartnerKey is the path of a partner's SFTP private key on the local
// stack; its certificate (<path>-cert.pub), which OpenSSH's `sftp -i path`
// presents with it, is beside it.
func (s *Stack) PartnerKey(t testing.TB, partner string) string {
	t.Helper()
	s.mustBeLocal(t, "PartnerKey")
	return s.keyFile(t, filepath.Join("partners", partner))
}

// SFTPUserCA is the path of the local stack's SFTP user CA (private key),
// for tests that certify keys of their own as an operator would.
func (s *Stack) SFTPUserCA(t testing.TB) string {
	t.Helper()
	s.mustBeLocal(t, "SFTPUserCA")
	return s.keyFile(t, "user_ca")
}

// keyFile is a file of the stack's SFTP keys folder (FERRY_SFTP_KEYS_DIR),
// which deploy/local/stack.sh up fills.
func (s *Stack) keyFile(t testing.TB, name string) string {
	t.Helper()
	dir := s.Env["FERRY_SFTP_KEYS_DIR"]
	if dir == "" {
		t.Fatal("the local stack's environment names no FERRY_SFTP_KEYS_DIR: run deploy/local/stack.sh up with this clone's stack.sh")
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("SFTP key %s: %v (deploy/local/stack.sh up makes it)", name, err)
	}
	return path
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

// UnversionedBucket creates a fresh bucket whose versioning was never
// enabled (status "") or is suspended, for tests of what Ferry does with
// a destination that keeps no versions; it is removed when the test ends.
func (s *Stack) UnversionedBucket(t testing.TB, status types.BucketVersioningStatus) string {
	t.Helper()
	name := Unique("ferry-test-")
	ctx := context.Background()
	if _, err := s.AWS.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	t.Cleanup(func() { s.removeBucket(t, name) })
	if status != "" {
		if _, err := s.AWS.S3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
			Bucket: aws.String(name), VersioningConfiguration: &types.VersioningConfiguration{Status: status},
		}); err != nil {
			t.Fatalf("setting bucket %s's versioning to %s: %v", name, status, err)
		}
	}
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
