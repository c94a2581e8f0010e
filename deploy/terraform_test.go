// Ferry's Terraform (deploy/terraform), read without AWS: no provider can
// be had here, so no `terraform validate` or `plan`. The module and its
// example are evaluated statically (tfeval_test.go) and checked for what
// matters most: the names the rendered config uses exist, the worker's
// and the bridge's roles allow exactly the AWS calls their code makes
// (awscalls_test.go), partners are confined to their prefixes, buckets
// refuse plain HTTP, the destination is under Object Lock, and the event
// rule matches the S3 events the bridge parses. `terraform fmt` and
// tflint run in terraformtools_test.go (integration tier).
package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/hashicorp/terraform-config-inspect/tfconfig"
	"github.com/zclconf/go-cty/cty"

	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/configrender"
	"github.com/ferrydata/ferry/internal/filestore"
)

const (
	tfModuleDir  = "terraform/modules/ferry"
	tfExampleDir = "terraform/examples/complete"
	tfRegion     = "eu-west-1"
)

var (
	exampleOnce sync.Once
	exampleEval *tfEval
	exampleErr  error
)

// example is the example root evaluated with its defaults; module is the
// module as it calls it.
func example(t *testing.T) (root, module *tfEval) {
	t.Helper()
	exampleOnce.Do(func() { exampleEval, exampleErr = evalModule(tfExampleDir, nil, "") })
	if exampleErr != nil {
		t.Fatal(exampleErr)
	}
	return exampleEval, exampleEval.modules["ferry"]
}

// get returns the value at path (attribute names, instance keys, list
// indexes) below a resource's address, failing the test if it is absent.
func get(t *testing.T, e *tfEval, addr string, path ...any) cty.Value {
	t.Helper()
	v, ok := e.values[addr]
	if !ok {
		t.Fatalf("the module has no %s", addr)
	}
	where := addr
	for _, step := range path {
		switch s := step.(type) {
		case string:
			where += "." + s
			switch {
			case v.Type().IsObjectType() && v.Type().HasAttribute(s):
				v = v.GetAttr(s)
			case v.Type().IsMapType() && v.HasIndex(cty.StringVal(s)).True():
				v = v.Index(cty.StringVal(s))
			default:
				t.Fatalf("%s is not set", where)
			}
		case int:
			where += fmt.Sprintf("[%d]", s)
			if !v.CanIterateElements() || v.LengthInt() <= s {
				t.Fatalf("%s does not exist", where)
			}
			v = v.Index(cty.NumberIntVal(int64(s)))
		}
	}
	// A resource or block may hold attributes only AWS knows; what a test
	// reads from it must be known.
	if ty := v.Type(); !v.IsKnown() || (!ty.IsObjectType() && !ty.IsMapType() && !ty.IsTupleType() && !ty.IsListType() && !v.IsWhollyKnown()) {
		t.Fatalf("%s is not known without AWS", where)
	}
	return v
}

func getString(t *testing.T, e *tfEval, addr string, path ...any) string {
	t.Helper()
	v := get(t, e, addr, path...)
	if v.IsNull() || !v.Type().Equals(cty.String) {
		t.Fatalf("%s %v: want a string, got %s", addr, path, v.GoString())
	}
	return v.AsString()
}

// instances returns a for_each resource's instances by key (a count
// resource's by index).
func instances(t *testing.T, e *tfEval, addr string) map[string]cty.Value {
	t.Helper()
	v := get(t, e, addr)
	out := map[string]cty.Value{}
	for it := v.ElementIterator(); it.Next(); {
		k, inst := it.Element()
		if k.Type() == cty.Number {
			out[k.AsBigFloat().String()] = inst
		} else {
			out[k.AsString()] = inst
		}
	}
	return out
}

// IAM policy documents as the module writes them (jsonencode).
type iamPolicy struct {
	Statement []iamStatement
}

type iamStatement struct {
	Sid         string
	Effect      string
	Principal   json.RawMessage
	Action      strList
	NotAction   strList
	Resource    strList
	NotResource strList
	Condition   map[string]map[string]strList
}

// strList is IAM's "a string or a list of strings".
type strList []string

func (s *strList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings, got %s", b)
	}
	*s = many
	return nil
}

func parsePolicy(t *testing.T, what, doc string) iamPolicy {
	t.Helper()
	var p iamPolicy
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatalf("%s: not a policy document: %v\n%s", what, err, doc)
	}
	if len(p.Statement) == 0 {
		t.Fatalf("%s has no statements", what)
	}
	return p
}

func (s iamStatement) principals() map[string][]string {
	var anyone string
	if json.Unmarshal(s.Principal, &anyone) == nil {
		return map[string][]string{"*": {anyone}}
	}
	var m map[string]strList
	_ = json.Unmarshal(s.Principal, &m)
	out := map[string][]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// --- the module loads ---------------------------------------------------

func TestTerraformModuleAndExampleLoad(t *testing.T) {
	for _, dir := range []string{tfModuleDir, tfExampleDir} {
		m, diags := tfconfig.LoadModule(dir)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", dir, diags.Err())
		}
		if p, ok := m.RequiredProviders["aws"]; !ok || p.Source != "hashicorp/aws" {
			t.Errorf("%s: required_providers has no hashicorp/aws: %+v", dir, m.RequiredProviders)
		}
		for name, v := range m.Variables {
			if v.Description == "" {
				t.Errorf("%s: variable %s has no description", dir, name)
			}
		}
	}
	m, _ := tfconfig.LoadModule(tfModuleDir)
	if _, ok := m.Variables["partners"]; !ok {
		t.Fatal("the module has no partners variable (the README and the SSH CA docs name partners.<name>.ssh_public_keys)")
	}
	// Every resource the module declares (tfconfig's list, not the
	// evaluator's own) has a known value: one left unknown (a for_each
	// over something only AWS knows) would leave checks reading nothing.
	_, mod := example(t)
	if len(m.ManagedResources) == 0 {
		t.Fatal("tfconfig found no resources in the module")
	}
	for _, r := range m.ManagedResources {
		if v, ok := mod.values[r.Type+"."+r.Name]; !ok || !v.IsKnown() {
			t.Errorf("%s.%s was not evaluated to a known value", r.Type, r.Name)
		}
	}
}

// The partners variable takes partners.<name>.ssh_public_keys and accepts
// exactly the names Ferry's config accepts.
func TestPartnerNamesAreValidatedAsFerrysConfigDoes(t *testing.T) {
	m, err := parseModule(tfModuleDir)
	if err != nil {
		t.Fatal(err)
	}
	ferry := renderedConfig(t)
	key := cty.StringVal("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDdcqEsIlZdJ6W6hdEewSMNUbO96Z7Jko9PcIIypZOQy placeholder")
	for _, name := range []string{"acme", "abc", "ab", "0day", "acme-eu", "-acme", "Acme", "acme_eu", "a2345678901234567890123456789012", "a23456789012345678901234567890123", "acme/x"} {
		failed, err := m.validate("partners", cty.MapVal(map[string]cty.Value{name: cty.ObjectVal(map[string]cty.Value{"ssh_public_keys": cty.ListVal([]cty.Value{key})})}))
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		tfOK := len(failed) == 0

		c := *ferry
		c.Partners = map[string]config.Partner{name: ferry.Partners["acme"]}
		err = c.Validate()
		ferryOK := err == nil || !strings.Contains(err.Error(), "partner name must be")
		if tfOK != ferryOK {
			t.Errorf("partner %q: Terraform accepts it %v (%v), Ferry's config %v (%v)", name, tfOK, failed, ferryOK, err)
		}
	}
	failed, err := m.validate("partners", cty.MapVal(map[string]cty.Value{"acme": cty.ObjectVal(map[string]cty.Value{"ssh_public_keys": cty.ListVal([]cty.Value{cty.StringVal("AAAA not a key")})})}))
	if err != nil || len(failed) == 0 {
		t.Errorf("a partner key that is no OpenSSH public key: %v %v", failed, err)
	}
}

// --- the rendered config ----------------------------------------------

var (
	renderOnce   sync.Once
	rendered     *config.Config
	renderedYAML []byte
	renderErr    error
)

// renderedConfig renders ferry.yaml from the example's ferry_config
// output and its partners.yaml, as `ferry config from-terraform` does,
// and loads it as the worker does.
func renderedConfig(t *testing.T) *config.Config {
	t.Helper()
	renderedConfigFile(t)
	return rendered
}

// renderedConfigFile is the file renderedConfig loads.
func renderedConfigFile(t *testing.T) []byte {
	t.Helper()
	root, _ := example(t)
	renderOnce.Do(func() {
		value, err := goValue(root.outputs[configrender.OutputName])
		if err != nil {
			renderErr = fmt.Errorf("output %s: %w", configrender.OutputName, err)
			return
		}
		out, _ := json.Marshal(map[string]any{configrender.OutputName: map[string]any{"sensitive": false, "value": value}})
		o, err := configrender.ParseOutputs(out)
		if err != nil {
			renderErr = err
			return
		}
		base, err := os.ReadFile(filepath.Join(tfExampleDir, "partners.yaml"))
		if err != nil {
			renderErr = err
			return
		}
		b, err := configrender.Render(o, base)
		if err != nil {
			renderErr = err
			return
		}
		renderedYAML = b
		rendered, renderErr = configrender.Load(b)
	})
	if renderErr != nil {
		t.Fatal(renderErr)
	}
	return renderedYAML
}

func TestEveryNameTheRenderedConfigUsesExistsInTerraform(t *testing.T) {
	c := renderedConfig(t)
	_, mod := example(t)
	names := func(addr, attr string) []string {
		var out []string
		for _, inst := range instances(t, mod, addr) {
			out = append(out, inst.GetAttr(attr).AsString())
		}
		if len(out) == 0 { // a single resource
			out = append(out, getString(t, mod, addr, attr))
		}
		return out
	}
	buckets := names("aws_s3_bucket.ferry", "bucket")
	queues := []string{getString(t, mod, "aws_sqs_queue.events", "name"), getString(t, mod, "aws_sqs_queue.dlq", "name")}
	tables := []string{getString(t, mod, "aws_dynamodb_table.files", "name"), getString(t, mod, "aws_dynamodb_table.audit", "name")}
	topics := names("aws_sns_topic.ferry", "arn")

	check := func(field, name string, in []string) {
		if !slices.Contains(in, name) {
			t.Errorf("%s %q is not created by the Terraform (it creates %v)", field, name, in)
		}
	}
	check("landing.bucket", c.Landing.Bucket, buckets)
	check("quarantine.bucket", c.Quarantine.Bucket, buckets)
	check("dynamodb.files_table", c.DynamoDB.FilesTable, tables)
	check("dynamodb.audit_table", c.DynamoDB.AuditTable, tables)
	check("bridge.sqs.queue", c.Bridge.SQS.Queue, queues)
	check("bridge.sqs.dead_letter_queue", c.Bridge.SQS.DeadLetterQueue, queues)
	if len(c.Notify.SNS) == 0 {
		t.Error("the rendered config has no notify.sns target for the module's topic")
	}
	for i, s := range c.Notify.SNS {
		check(fmt.Sprintf("notify.sns[%d].topic", i), s.Topic, topics)
	}
	keyARN := getString(t, mod, "aws_kms_key.ferry", "arn")
	tfPartners := instances(t, mod, "aws_transfer_user.partner")
	for _, p := range c.PartnerNames() {
		if _, ok := tfPartners[p]; !ok {
			t.Errorf("partner %s has no Transfer Family user", p)
		}
		check("partners."+p+".destination.bucket", c.Partners[p].Destination.Bucket, buckets)
		if g := c.Partners[p].Governance; g.Encryption == "SSE-KMS" && g.KMSKeyID != keyARN {
			t.Errorf("partners.%s.governance.kms_key_id %q is not the module's key %s", p, g.KMSKeyID, keyARN)
		}
	}
	if len(tfPartners) != len(c.Partners) {
		t.Errorf("Terraform has users %v, the config partners %v", slices.Sorted(maps.Keys(tfPartners)), c.PartnerNames())
	}
	// The SQS settings the bridge checks against the queue's own.
	if got, want := c.Bridge.SQS.VisibilityTimeout, time.Duration(getNumber(t, mod, "aws_sqs_queue.events", "visibility_timeout_seconds"))*time.Second; got != want {
		t.Errorf("bridge.sqs.visibility_timeout %s, the queue's %s", got, want)
	}
	var redrive struct {
		MaxReceiveCount     int
		DeadLetterTargetArn string
	}
	if err := json.Unmarshal([]byte(getString(t, mod, "aws_sqs_queue.events", "redrive_policy")), &redrive); err != nil {
		t.Fatal(err)
	}
	if redrive.MaxReceiveCount <= c.Bridge.SQS.MaxReceives || redrive.DeadLetterTargetArn != getString(t, mod, "aws_sqs_queue.dlq", "arn") {
		t.Errorf("the queue's redrive (%+v) must lead to the DLQ after more receives than bridge.sqs.max_receives (%d), so the bridge dead-letters with the reason first", redrive, c.Bridge.SQS.MaxReceives)
	}
}

func getNumber(t *testing.T, e *tfEval, addr string, path ...any) int {
	t.Helper()
	v := get(t, e, addr, path...)
	var n int
	if err := gocty(v, &n); err != nil {
		t.Fatalf("%s %v: %v", addr, path, err)
	}
	return n
}

// The tables have the keys and indexes Ferry's stores create on the local
// stack: the CreateTable requests of filestore.CreateTable and
// audit.CreateTable, captured, against the Terraform.
func TestTablesHaveTheKeysAndIndexesTheCodeUses(t *testing.T) {
	_, mod := example(t)
	c := renderedConfig(t)
	for _, tt := range []struct {
		addr   string
		create func(context.Context, *dynamodb.Client, string) error
		name   string
	}{
		{"aws_dynamodb_table.files", filestore.CreateTable, c.DynamoDB.FilesTable},
		{"aws_dynamodb_table.audit", audit.CreateTable, c.DynamoDB.AuditTable},
	} {
		want := captureCreateTable(t, tt.create, tt.name)
		got := createTableOf(t, mod, tt.addr)
		if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != w {
			t.Errorf("%s differs from what the code creates:\n terraform: %s\n code:      %s", tt.addr, g, w)
		}
		for _, setting := range [][]any{{"point_in_time_recovery", 0, "enabled"}, {"deletion_protection_enabled"}, {"server_side_encryption", 0, "enabled"}} {
			if v := get(t, mod, tt.addr, setting...); !v.True() {
				t.Errorf("%s %v is not true", tt.addr, setting)
			}
		}
		if got := getString(t, mod, tt.addr, "server_side_encryption", 0, "kms_key_arn"); got != getString(t, mod, "aws_kms_key.ferry", "arn") {
			t.Errorf("%s is encrypted with %s, not the module's key", tt.addr, got)
		}
	}
	for _, index := range []string{filestore.StatusIndex, filestore.PartnerIndex} {
		if !strings.Contains(fmt.Sprintf("%+v", createTableOf(t, mod, "aws_dynamodb_table.files")), "{Name:"+index+" ") {
			t.Errorf("the files table has no index %s", index)
		}
	}
}

// tableShape is the part of a table that code and Terraform must agree on.
type tableShape struct {
	Attributes []string // name:type, sorted
	Keys       []string // name:HASH|RANGE
	Indexes    []indexShape
}

type indexShape struct {
	Name       string
	Keys       []string
	Projection string
}

func captureCreateTable(t *testing.T, create func(context.Context, *dynamodb.Client, string) error, table string) tableShape {
	t.Helper()
	var body []byte
	client := dynamodb.New(dynamodb.Options{
		Region: tfRegion, Credentials: aws.AnonymousCredentials{}, BaseEndpoint: aws.String("http://dynamodb.invalid"),
		RetryMaxAttempts: 1,
		HTTPClient: httpFunc(func(r *http.Request) (*http.Response, error) {
			b, _ := io.ReadAll(r.Body)
			if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".CreateTable") {
				body = b
			}
			// Refuse everything: the request is all this needs.
			return &http.Response{StatusCode: 400, Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
				Body: io.NopCloser(strings.NewReader(`{"__type":"com.amazonaws.dynamodb.v20120810#ValidationException","message":"captured"}`)), Request: r}, nil
		}),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = create(ctx, client, table)
	if body == nil {
		t.Fatalf("%s: the code sent no CreateTable request", table)
	}
	var req struct {
		TableName              string
		AttributeDefinitions   []struct{ AttributeName, AttributeType string }
		KeySchema              []struct{ AttributeName, KeyType string }
		GlobalSecondaryIndexes []struct {
			IndexName  string
			KeySchema  []struct{ AttributeName, KeyType string }
			Projection struct{ ProjectionType string }
		}
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	var s tableShape
	for _, a := range req.AttributeDefinitions {
		s.Attributes = append(s.Attributes, a.AttributeName+":"+a.AttributeType)
	}
	for _, k := range req.KeySchema {
		s.Keys = append(s.Keys, k.AttributeName+":"+k.KeyType)
	}
	for _, g := range req.GlobalSecondaryIndexes {
		ix := indexShape{Name: g.IndexName, Projection: g.Projection.ProjectionType}
		for _, k := range g.KeySchema {
			ix.Keys = append(ix.Keys, k.AttributeName+":"+k.KeyType)
		}
		s.Indexes = append(s.Indexes, ix)
	}
	sort.Strings(s.Attributes)
	sort.Slice(s.Indexes, func(i, j int) bool { return s.Indexes[i].Name < s.Indexes[j].Name })
	return s
}

type httpFunc func(*http.Request) (*http.Response, error)

func (f httpFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

func createTableOf(t *testing.T, e *tfEval, addr string) tableShape {
	t.Helper()
	var s tableShape
	attrs := get(t, e, addr, "attribute")
	for it := attrs.ElementIterator(); it.Next(); {
		_, a := it.Element()
		s.Attributes = append(s.Attributes, a.GetAttr("name").AsString()+":"+a.GetAttr("type").AsString())
	}
	keys := func(v cty.Value) []string {
		k := []string{v.GetAttr("hash_key").AsString() + ":HASH"}
		if v.Type().HasAttribute("range_key") && !v.GetAttr("range_key").IsNull() {
			k = append(k, v.GetAttr("range_key").AsString()+":RANGE")
		}
		return k
	}
	s.Keys = keys(get(t, e, addr))
	if v := get(t, e, addr); v.Type().HasAttribute("global_secondary_index") {
		for it := v.GetAttr("global_secondary_index").ElementIterator(); it.Next(); {
			_, g := it.Element()
			s.Indexes = append(s.Indexes, indexShape{Name: g.GetAttr("name").AsString(), Keys: keys(g), Projection: g.GetAttr("projection_type").AsString()})
		}
	}
	sort.Strings(s.Attributes)
	sort.Slice(s.Indexes, func(i, j int) bool { return s.Indexes[i].Name < s.Indexes[j].Name })
	return s
}

// --- least privilege ----------------------------------------------------

// resKind is what an IAM action acts on, told apart by the resource's ARN.
type resKind string

const (
	onBucket resKind = "S3 bucket"
	onObject resKind = "S3 object"
	onTable  resKind = "DynamoDB table"
	onIndex  resKind = "DynamoDB index"
	onQueue  resKind = "SQS queue"
	onTopic  resKind = "SNS topic"
	onAny    resKind = "* (no resource-level permissions)"
)

type perm struct {
	action string
	on     resKind
}

// sdkPermissions maps each SDK operation Ferry calls to the IAM actions
// AWS checks for it, from each service's "Actions, resources, and
// condition keys" reference. An operation missing here fails the test:
// add it, with what it needs. Beyond the operation's own action:
//
//   - Ferry passes a VersionId to object reads, copies, deletes and
//     tagging, which S3 authorizes as the *Version variant of the action;
//   - S3 answers a HeadObject or GetObject of a missing key with 403
//     instead of 404 unless the caller may s3:ListBucket, and Ferry tells
//     "not there yet" (a first copy attempt) from "not allowed";
//   - CopyObject reads the source's tags under the default tagging
//     directive (COPY), and writing tags or an Object Lock retention with
//     an object (Ferry's deliveries) needs s3:PutObjectTagging and
//     s3:PutObjectRetention;
//   - Query reads a table (the audit trail) and indexes (by-status,
//     by-partner).
//
// KMS use (SSE-KMS objects, encrypted queues, tables and topics) is not
// here: the key policy grants it (TestKeyPolicyLetsFerryAndTransferFamilyUseTheKey).
var sdkPermissions = map[string][]perm{
	"s3.GetBucketVersioning":      {{"s3:GetBucketVersioning", onBucket}},
	"s3.HeadBucket":               {{"s3:ListBucket", onBucket}},
	"s3.HeadObject":               {{"s3:GetObject", onObject}, {"s3:GetObjectVersion", onObject}, {"s3:ListBucket", onBucket}},
	"s3.GetObject":                {{"s3:GetObject", onObject}, {"s3:GetObjectVersion", onObject}, {"s3:ListBucket", onBucket}},
	"s3.PutObject":                {{"s3:PutObject", onObject}},
	"s3.CopyObject":               {{"s3:GetObject", onObject}, {"s3:GetObjectVersion", onObject}, {"s3:GetObjectTagging", onObject}, {"s3:GetObjectVersionTagging", onObject}, {"s3:PutObject", onObject}, {"s3:PutObjectTagging", onObject}, {"s3:PutObjectRetention", onObject}},
	"s3.CreateMultipartUpload":    {{"s3:PutObject", onObject}, {"s3:PutObjectTagging", onObject}, {"s3:PutObjectRetention", onObject}},
	"s3.UploadPart":               {{"s3:PutObject", onObject}},
	"s3.ListMultipartUploads":     {{"s3:ListBucketMultipartUploads", onBucket}},
	"s3.UploadPartCopy":           {{"s3:GetObject", onObject}, {"s3:GetObjectVersion", onObject}, {"s3:PutObject", onObject}},
	"s3.CompleteMultipartUpload":  {{"s3:PutObject", onObject}},
	"s3.AbortMultipartUpload":     {{"s3:AbortMultipartUpload", onObject}},
	"s3.ListParts":                {{"s3:ListMultipartUploadParts", onObject}},
	"s3.PutObjectRetention":       {{"s3:PutObjectRetention", onObject}},
	"s3.DeleteObject":             {{"s3:DeleteObject", onObject}, {"s3:DeleteObjectVersion", onObject}},
	"s3.PutObjectTagging":         {{"s3:PutObjectTagging", onObject}, {"s3:PutObjectVersionTagging", onObject}},
	"s3.ListObjectVersions":       {{"s3:ListBucketVersions", onBucket}},
	"s3.ListObjectsV2":            {{"s3:ListBucket", onBucket}},
	"dynamodb.GetItem":            {{"dynamodb:GetItem", onTable}},
	"dynamodb.BatchGetItem":       {{"dynamodb:BatchGetItem", onTable}},
	"dynamodb.PutItem":            {{"dynamodb:PutItem", onTable}},
	"dynamodb.UpdateItem":         {{"dynamodb:UpdateItem", onTable}},
	"dynamodb.DeleteItem":         {{"dynamodb:DeleteItem", onTable}},
	"dynamodb.Query":              {{"dynamodb:Query", onTable}, {"dynamodb:Query", onIndex}},
	"dynamodb.DescribeTable":      {{"dynamodb:DescribeTable", onTable}},
	"sqs.GetQueueUrl":             {{"sqs:GetQueueUrl", onQueue}},
	"sqs.GetQueueAttributes":      {{"sqs:GetQueueAttributes", onQueue}},
	"sqs.ReceiveMessage":          {{"sqs:ReceiveMessage", onQueue}},
	"sqs.DeleteMessage":           {{"sqs:DeleteMessage", onQueue}},
	"sqs.ChangeMessageVisibility": {{"sqs:ChangeMessageVisibility", onQueue}},
	"sqs.SendMessage":             {{"sqs:SendMessage", onQueue}},
	"sns.Publish":                 {{"sns:Publish", onTopic}},
	"sns.ListTopics":              {{"sns:ListTopics", onAny}},
}

// ferryProcess is a process that runs with a role of the module.
type ferryProcess struct {
	role       string // the module's aws_iam_role_policy
	pkg, entry string // where the process starts
}

// processes: the worker (worker/main.go run) and the bridge
// (starter/bridge.go runBridge).
var processes = []ferryProcess{
	{role: "worker", pkg: modulePath + "/worker", entry: "run"},
	{role: "bridge", pkg: modulePath + "/starter", entry: "runBridge"},
}

// kindOf tells what an ARN names.
func kindOf(arn string) resKind {
	switch {
	case arn == "*":
		return onAny
	case strings.HasPrefix(arn, "arn:aws:s3:::"):
		if strings.Contains(strings.TrimPrefix(arn, "arn:aws:s3:::"), "/") {
			return onObject
		}
		return onBucket
	case strings.HasPrefix(arn, "arn:aws:dynamodb:") && strings.Contains(arn, "/index/"):
		return onIndex
	case strings.HasPrefix(arn, "arn:aws:dynamodb:"):
		return onTable
	case strings.HasPrefix(arn, "arn:aws:sqs:"):
		return onQueue
	case strings.HasPrefix(arn, "arn:aws:sns:"):
		return onTopic
	}
	return resKind("unknown (" + arn + ")")
}

func TestWorkerAndBridgeRolesAllowExactlyTheAWSCallsTheirCodeMakes(t *testing.T) {
	_, mod := example(t)
	for _, p := range processes {
		t.Run(p.role, func(t *testing.T) {
			calls, problems := awsCalls(t, p.pkg, p.entry)
			for _, pr := range problems {
				t.Error(pr)
			}
			if len(calls) == 0 {
				t.Fatalf("no AWS call found from %s.%s: the analysis is broken", p.pkg, p.entry)
			}
			// What is needed: action -> resource kind -> why.
			need := map[string]map[resKind][]string{}
			needs := func(op, why string) {
				perms, ok := sdkPermissions[op]
				if !ok {
					t.Errorf("%s: %s (%s) is not in sdkPermissions: add it there with the IAM actions it needs, and to the %s policy in deploy/terraform/modules/ferry/iam.tf", p.role, op, why, p.role)
					return
				}
				for _, pm := range perms {
					if need[pm.action] == nil {
						need[pm.action] = map[resKind][]string{}
					}
					need[pm.action][pm.on] = append(need[pm.action][pm.on], why)
				}
			}
			for _, op := range sortedOps(calls) {
				var sites []string
				for _, c := range calls[op] {
					sites = append(sites, c.String())
				}
				needs(op, strings.Join(sites, "; "))
			}

			// What is granted: action -> resource kind -> resources.
			doc := getString(t, mod, "aws_iam_role_policy."+p.role, "policy")
			policy := parsePolicy(t, p.role+" policy", doc)
			granted := map[string]map[resKind][]string{}
			for _, s := range policy.Statement {
				if s.Effect != "Allow" || len(s.NotAction) > 0 || len(s.NotResource) > 0 || len(s.Condition) > 0 {
					t.Errorf("%s policy statement %s: only plain Allow statements (Action, Resource) are expected", p.role, s.Sid)
				}
				for _, a := range s.Action {
					if strings.Contains(a, "*") {
						t.Errorf("%s policy statement %s allows %q: name each action", p.role, s.Sid, a)
					}
					for _, r := range s.Resource {
						if granted[a] == nil {
							granted[a] = map[resKind][]string{}
						}
						granted[a][kindOf(r)] = append(granted[a][kindOf(r)], r)
					}
				}
			}

			for _, a := range slices.Sorted(maps.Keys(need)) {
				for on, why := range need[a] {
					if len(granted[a][on]) == 0 {
						t.Errorf("%s role: MISSING %s on an %s, needed by %s", p.role, a, on, strings.Join(why, " | "))
					}
				}
			}
			for _, a := range slices.Sorted(maps.Keys(granted)) {
				for on, res := range granted[a] {
					if len(need[a][on]) == 0 {
						t.Errorf("%s role: EXTRA %s on %v (%s): no call of the %s's code needs it; remove it from deploy/terraform/modules/ferry/iam.tf, or add the call's operation to sdkPermissions if the analysis missed it",
							p.role, a, res, on, p.role)
					}
				}
			}
		})
	}
}

// Each role's statements name only Ferry's own resources.
func TestWorkerAndBridgeRolesNameOnlyFerrysResources(t *testing.T) {
	_, mod := example(t)
	ours := map[string]bool{"*": true}
	for _, b := range instances(t, mod, "aws_s3_bucket.ferry") {
		ours[b.GetAttr("arn").AsString()] = true
		ours[b.GetAttr("arn").AsString()+"/*"] = true
	}
	for _, addr := range []string{"aws_dynamodb_table.files", "aws_dynamodb_table.audit", "aws_sqs_queue.events", "aws_sqs_queue.dlq"} {
		ours[getString(t, mod, addr, "arn")] = true
	}
	ours[getString(t, mod, "aws_dynamodb_table.files", "arn")+"/index/*"] = true
	ours[getString(t, mod, "aws_sns_topic.ferry", "notifications", "arn")] = true
	for _, role := range []string{"worker", "bridge"} {
		policy := parsePolicy(t, role, getString(t, mod, "aws_iam_role_policy."+role, "policy"))
		for _, s := range policy.Statement {
			for _, r := range s.Resource {
				if !ours[r] {
					t.Errorf("%s policy statement %s names %s, which is none of Ferry's buckets, tables, queues or its notification topic", role, s.Sid, r)
				}
			}
		}
	}
	// The bridge never touches S3, DynamoDB or SNS; the worker never SQS.
	for role, foreign := range map[string]string{"bridge": "s3: dynamodb: sns:", "worker": "sqs:"} {
		policy := parsePolicy(t, role, getString(t, mod, "aws_iam_role_policy."+role, "policy"))
		for _, s := range policy.Statement {
			for _, a := range s.Action {
				for _, f := range strings.Fields(foreign) {
					if strings.HasPrefix(a, f) {
						t.Errorf("the %s's role allows %s", role, a)
					}
				}
			}
		}
	}
}

// Each partner's Transfer Family role reaches its own landing prefix and
// nothing else, and its home directory shows only that prefix.
func TestPartnerRolesAreConfinedToTheirOwnPrefix(t *testing.T) {
	_, mod := example(t)
	landing := getString(t, mod, "aws_s3_bucket.ferry", "landing", "bucket")
	landingARN := getString(t, mod, "aws_s3_bucket.ferry", "landing", "arn")
	allowed := []string{"s3:ListBucket", "s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}
	users := instances(t, mod, "aws_transfer_user.partner")
	if len(users) < 2 {
		t.Fatalf("the example has %d partners; two or more show that one cannot reach another", len(users))
	}
	for p := range users {
		roleARN := getString(t, mod, "aws_iam_role.partner", p, "arn")
		if got := getString(t, mod, "aws_transfer_user.partner", p, "role"); got != roleARN {
			t.Errorf("user %s has role %s, not its own %s", p, got, roleARN)
		}
		if got := getString(t, mod, "aws_iam_role_policy.partner", p, "role"); got != getString(t, mod, "aws_iam_role.partner", p, "id") {
			t.Errorf("partner %s's policy is attached to %s", p, got)
		}
		if got := getString(t, mod, "aws_transfer_user.partner", p, "home_directory_type"); got != "LOGICAL" {
			t.Errorf("user %s: home_directory_type %s, want LOGICAL (else it sees the bucket's root)", p, got)
		}
		mappings := get(t, mod, "aws_transfer_user.partner", p, "home_directory_mappings")
		if mappings.LengthInt() != 1 {
			t.Errorf("user %s has %d home directory mappings, want exactly /", p, mappings.LengthInt())
		}
		m := mappings.Index(cty.NumberIntVal(0))
		if e, tg := m.GetAttr("entry").AsString(), m.GetAttr("target").AsString(); e != "/" || tg != "/"+landing+"/"+p {
			t.Errorf("user %s maps %s to %s, want / to /%s/%s", p, e, tg, landing, p)
		}
		policy := parsePolicy(t, "partner "+p, getString(t, mod, "aws_iam_role_policy.partner", p, "policy"))
		var puts bool
		for _, s := range policy.Statement {
			if s.Effect != "Allow" || len(s.NotAction) > 0 || len(s.NotResource) > 0 {
				t.Errorf("partner %s statement %s: only plain Allow statements are expected", p, s.Sid)
			}
			for _, a := range s.Action {
				if !slices.Contains(allowed, a) {
					t.Errorf("partner %s may %s: not something an SFTP client needs (%v)", p, a, allowed)
				}
				puts = puts || a == "s3:PutObject"
			}
			for _, r := range s.Resource {
				switch {
				case r == landingARN:
					if !slices.Equal(s.Action, []string{"s3:ListBucket"}) {
						t.Errorf("partner %s statement %s: on the bucket itself only s3:ListBucket, got %v", p, s.Sid, s.Action)
					}
					prefixes := s.Condition["StringLike"]["s3:prefix"]
					if len(prefixes) == 0 {
						t.Errorf("partner %s may list the whole landing bucket: s3:ListBucket needs an s3:prefix condition", p)
					}
					for _, pre := range prefixes {
						if pre != p+"/" && pre != p+"/*" {
							t.Errorf("partner %s may list prefix %q, not only its own %s/", p, pre, p)
						}
					}
					if len(s.Condition) != 1 || len(s.Condition["StringLike"]) != 1 {
						t.Errorf("partner %s statement %s: conditions %v, want only StringLike s3:prefix", p, s.Sid, s.Condition)
					}
				case r == landingARN+"/"+p+"/*":
					if slices.Contains(s.Action, "s3:ListBucket") {
						t.Errorf("partner %s statement %s: s3:ListBucket on objects does nothing", p, s.Sid)
					}
				default:
					t.Errorf("partner %s may act on %s: only %s (with its prefix) and %s/%s/* are its own", p, r, landingARN, landingARN, p)
				}
			}
		}
		if !puts {
			t.Errorf("partner %s may not upload (s3:PutObject)", p)
		}
	}
}

// The key's policy lets the worker, the bridge and Transfer Family (as
// each partner's role) use it, through the services they use it by.
func TestKeyPolicyLetsFerryAndTransferFamilyUseTheKey(t *testing.T) {
	_, mod := example(t)
	if !get(t, mod, "aws_kms_key.ferry", "enable_key_rotation").True() {
		t.Error("the key does not rotate")
	}
	if got := getString(t, mod, "aws_kms_alias.ferry", "target_key_id"); got != getString(t, mod, "aws_kms_key.ferry", "key_id") {
		t.Errorf("the alias targets %s", got)
	}
	policy := parsePolicy(t, "key policy", getString(t, mod, "aws_kms_key.ferry", "policy"))
	// grants reports whether a statement allows principal arn both
	// actions through service.
	grants := func(arn, service string, actions ...string) bool {
		for _, s := range policy.Statement {
			if s.Effect != "Allow" {
				continue
			}
			aws := s.principals()["AWS"]
			named := slices.Contains(aws, arn)
			if !named && slices.Contains(aws, "*") {
				for _, pattern := range s.Condition["ArnLike"]["aws:PrincipalArn"] {
					if ok, _ := filepath.Match(pattern, arn); ok {
						named = true
					}
				}
			}
			via := s.Condition["StringEquals"]["kms:ViaService"]
			allows := func(a string) bool {
				return slices.ContainsFunc(s.Action, func(pattern string) bool { ok, _ := filepath.Match(pattern, a); return ok })
			}
			if named && slices.Contains(via, service+"."+tfRegion+".amazonaws.com") && !slices.ContainsFunc(actions, func(a string) bool { return !allows(a) }) {
				return true
			}
		}
		return false
	}
	uses := []string{"kms:Decrypt", "kms:GenerateDataKey"}
	worker, bridge := getString(t, mod, "aws_iam_role.worker", "arn"), getString(t, mod, "aws_iam_role.bridge", "arn")
	for _, tt := range []struct{ who, arn, via string }{
		{"the worker (SSE-KMS objects)", worker, "s3"},
		{"the worker (encrypted topic)", worker, "sns"},
		{"the worker (encrypted tables)", worker, "dynamodb"},
		{"the bridge (encrypted queues)", bridge, "sqs"},
	} {
		if !grants(tt.arn, tt.via, uses...) {
			t.Errorf("the key policy does not let %s use the key via %s", tt.who, tt.via)
		}
	}
	for p := range instances(t, mod, "aws_iam_role.partner") {
		if !grants(getString(t, mod, "aws_iam_role.partner", p, "arn"), "s3", uses...) {
			t.Errorf("the key policy does not let Transfer Family write partner %s's uploads (SSE-KMS) as its role", p)
		}
	}
	if grants(getString(t, mod, "aws_iam_role.transfer_logging", "arn"), "s3", uses...) {
		t.Error("the key policy's partner pattern also matches the logging role")
	}
}

// Every bucket refuses requests that are not TLS, and Ferry's three are
// versioned, encrypted with the key and closed to the public.
func TestBucketsDenyInsecureTransportAndAreLockedDown(t *testing.T) {
	_, mod := example(t)
	keyARN := getString(t, mod, "aws_kms_key.ferry", "arn")
	buckets := map[string]cty.Value{}
	for k, b := range instances(t, mod, "aws_s3_bucket.ferry") {
		buckets[b.GetAttr("id").AsString()] = b
		for _, setting := range []struct {
			addr string
			path []any
			want string
		}{
			{"aws_s3_bucket_versioning.ferry", []any{k, "versioning_configuration", 0, "status"}, "Enabled"},
			{"aws_s3_bucket_server_side_encryption_configuration.ferry", []any{k, "rule", 0, "apply_server_side_encryption_by_default", 0, "sse_algorithm"}, "aws:kms"},
			{"aws_s3_bucket_server_side_encryption_configuration.ferry", []any{k, "rule", 0, "apply_server_side_encryption_by_default", 0, "kms_master_key_id"}, keyARN},
			{"aws_s3_bucket_ownership_controls.ferry", []any{k, "rule", 0, "object_ownership"}, "BucketOwnerEnforced"},
		} {
			if got := getString(t, mod, setting.addr, setting.path...); got != setting.want {
				t.Errorf("%s bucket: %s %v = %q, want %q", k, setting.addr, setting.path[1:], got, setting.want)
			}
		}
		if !get(t, mod, "aws_s3_bucket_server_side_encryption_configuration.ferry", k, "rule", 0, "bucket_key_enabled").True() {
			t.Errorf("%s bucket: no bucket key (every object would be a KMS request)", k)
		}
		for _, b := range []string{"block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"} {
			if !get(t, mod, "aws_s3_bucket_public_access_block.ferry", k, b).True() {
				t.Errorf("%s bucket: %s is not true", k, b)
			}
		}
	}
	for _, b := range instances(t, mod, "aws_s3_bucket.trail") {
		buckets[b.GetAttr("id").AsString()] = b
	}
	if len(buckets) != 5 {
		t.Fatalf("buckets %v: want landing, delivered, quarantine, the audit anchors and the trail's (the example turns data events on)", slices.Sorted(maps.Keys(buckets)))
	}
	withPolicy := map[string]bool{}
	for _, addr := range []string{"aws_s3_bucket_policy.ferry", "aws_s3_bucket_policy.trail"} {
		for _, inst := range instances(t, mod, addr) {
			name := inst.GetAttr("bucket").AsString()
			arn := buckets[name].GetAttr("arn").AsString()
			policy := parsePolicy(t, addr+" "+name, inst.GetAttr("policy").AsString())
			denies := slices.ContainsFunc(policy.Statement, func(s iamStatement) bool {
				return s.Effect == "Deny" && s.principals()["*"] != nil && slices.Equal(s.Action, []string{"s3:*"}) &&
					slices.Contains(s.Resource, arn) && slices.Contains(s.Resource, arn+"/*") &&
					slices.Equal(s.Condition["Bool"]["aws:SecureTransport"], []string{"false"})
			})
			if !denies {
				t.Errorf("bucket %s's policy does not deny every request without TLS (Deny s3:* on the bucket and its objects when aws:SecureTransport is false)", name)
			}
			withPolicy[name] = true
		}
	}
	for name := range buckets {
		if !withPolicy[name] {
			t.Errorf("bucket %s has no bucket policy", name)
		}
	}

	// Landing: EventBridge on, noncurrent versions expire.
	if !get(t, mod, "aws_s3_bucket_notification.landing", "eventbridge").True() {
		t.Error("the landing bucket does not send events to EventBridge")
	}
	if n := getNumber(t, mod, "aws_s3_bucket_lifecycle_configuration.landing", "rule", 0, "noncurrent_version_expiration", 0, "noncurrent_days"); n <= 0 {
		t.Errorf("landing's noncurrent versions expire after %d days", n)
	}
}

// The destinations of the rendered config are under Object Lock with a
// default retention, and tagged for data classification.
func TestDestinationBucketsHaveObjectLock(t *testing.T) {
	_, mod := example(t)
	c := renderedConfig(t)
	byName := map[string]string{}
	for k, b := range instances(t, mod, "aws_s3_bucket.ferry") {
		byName[b.GetAttr("bucket").AsString()] = k
	}
	lock := get(t, mod, "aws_s3_bucket_object_lock_configuration.delivered")
	for _, p := range c.PartnerNames() {
		name := c.Partners[p].Destination.Bucket
		k := byName[name]
		if !get(t, mod, "aws_s3_bucket.ferry", k, "object_lock_enabled").True() {
			t.Errorf("partner %s's destination %s has no Object Lock", p, name)
		}
		if lock.GetAttr("bucket").AsString() != name {
			t.Errorf("the Object Lock configuration is for %s, not partner %s's destination %s", lock.GetAttr("bucket").AsString(), p, name)
		}
		for tag, want := range map[string]string{"GxP": "true", "DataType": "partner-files", "Retention": "7y"} {
			if got := getString(t, mod, "aws_s3_bucket.ferry", k, "tags", tag); got != want {
				t.Errorf("destination %s: tag %s = %q, want %q", name, tag, got, want)
			}
		}
	}
	rule := get(t, mod, "aws_s3_bucket_object_lock_configuration.delivered", "rule", 0, "default_retention", 0)
	if rule.GetAttr("mode").AsString() != "GOVERNANCE" || rule.GetAttr("days").IsNull() {
		t.Errorf("default retention %s", rule.GoString())
	}
}

// The audit anchors' bucket (audit.anchor.bucket of the rendered config)
// has Object Lock with a default COMPLIANCE retention, and the worker may
// write, retain, read and list anchors there and delete none.
func TestAuditAnchorBucketIsLockedInComplianceMode(t *testing.T) {
	_, mod := example(t)
	c := renderedConfig(t)
	name := c.Audit.Anchor.Bucket
	if name == "" {
		t.Fatal("the rendered config sets no audit.anchor.bucket")
	}
	b := get(t, mod, "aws_s3_bucket.ferry", "anchors")
	if b.GetAttr("bucket").AsString() != name || !b.GetAttr("object_lock_enabled").True() {
		t.Fatalf("anchors bucket %s (want %s) must have Object Lock enabled", b.GetAttr("bucket").AsString(), name)
	}
	lock := get(t, mod, "aws_s3_bucket_object_lock_configuration.anchors")
	rule := lock.GetAttr("rule").Index(cty.NumberIntVal(0)).GetAttr("default_retention").Index(cty.NumberIntVal(0))
	if lock.GetAttr("bucket").AsString() != name || rule.GetAttr("mode").AsString() != "COMPLIANCE" || rule.GetAttr("days").IsNull() {
		t.Errorf("anchors' Object Lock configuration: bucket %s, default retention %s; want COMPLIANCE with days on %s", lock.GetAttr("bucket").AsString(), rule.GoString(), name)
	}
	if days, _ := rule.GetAttr("days").AsBigFloat().Int64(); int(days) != c.Audit.Anchor.RetentionDays {
		t.Errorf("the bucket's default retention is %d days, the rendered audit.anchor.retention_days %d", days, c.Audit.Anchor.RetentionDays)
	}
	arn := b.GetAttr("arn").AsString()
	policy := parsePolicy(t, "worker", getString(t, mod, "aws_iam_role_policy.worker", "policy"))
	allowed := map[string]bool{}
	for _, st := range policy.Statement {
		for _, r := range st.Resource {
			if st.Effect == "Allow" && (r == arn || r == arn+"/*") {
				for _, a := range st.Action {
					allowed[a] = true
				}
			}
		}
	}
	for _, a := range []string{"s3:PutObject", "s3:PutObjectRetention", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions"} {
		if !allowed[a] {
			t.Errorf("the worker may not %s on the anchors bucket", a)
		}
	}
	for a := range allowed {
		if strings.HasPrefix(a, "s3:Delete") || a == "s3:BypassGovernanceRetention" {
			t.Errorf("the worker may %s on the anchors bucket", a)
		}
	}
}

// --- events ---------------------------------------------------------------

// The rule's pattern, evaluated for a landing bucket named as in the
// fixtures of internal/s3event, matches the Object Created event the
// bridge parses and nothing else.
func TestEventRuleMatchesTheObjectCreatedFixtures(t *testing.T) {
	fixture := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "internal", "s3event", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	created := fixture("aws-eventbridge-object-created.json")
	var ev struct {
		Detail struct {
			Bucket struct{ Name string }
		}
	}
	if err := json.Unmarshal(created, &ev); err != nil || ev.Detail.Bucket.Name == "" {
		t.Fatalf("the fixture names no bucket: %v", err)
	}
	mod := evalWith(t, map[string]cty.Value{
		"bucket_names": cty.ObjectVal(map[string]cty.Value{"landing": cty.StringVal(ev.Detail.Bucket.Name)}),
	})
	pattern := []byte(getString(t, mod, "aws_cloudwatch_event_rule.landing_object_created", 0, "event_pattern"))
	otherBucket := strings.ReplaceAll(string(created), `"`+ev.Detail.Bucket.Name+`"`, `"someone-elses-bucket"`)
	otherBucket = strings.ReplaceAll(otherBucket, "arn:aws:s3:::"+ev.Detail.Bucket.Name, "arn:aws:s3:::someone-elses-bucket")
	for _, tt := range []struct {
		name  string
		event []byte
		want  bool
	}{
		{"aws-eventbridge-object-created.json", created, true},
		{"aws-eventbridge-object-deleted.json", fixture("aws-eventbridge-object-deleted.json"), false},
		{"object created in another bucket", []byte(otherBucket), false},
		{"object created, from another source", []byte(strings.Replace(string(created), `"aws.s3"`, `"aws.ec2"`, 1)), false},
	} {
		got, err := matchEventPattern(pattern, tt.event)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: the rule's pattern %s matches %v, want %v", tt.name, pattern, got, tt.want)
		}
	}

	// The rule sends to the queue, which lets exactly that rule send.
	queueARN := getString(t, mod, "aws_sqs_queue.events", "arn")
	if got := getString(t, mod, "aws_cloudwatch_event_target.landing_object_created", 0, "arn"); got != queueARN {
		t.Errorf("the rule's target is %s, not the bridge's queue %s", got, queueARN)
	}
	ruleARN := getString(t, mod, "aws_cloudwatch_event_rule.landing_object_created", 0, "arn")
	assertQueueAccepts(t, mod, "events.amazonaws.com", ruleARN)
}

// With event_source "s3", S3 notifies the queue itself.
func TestS3NotificationsCanGoStraightToTheQueue(t *testing.T) {
	mod := evalWith(t, map[string]cty.Value{"event_source": cty.StringVal("s3")})
	if n := len(instances(t, mod, "aws_cloudwatch_event_rule.landing_object_created")); n != 0 {
		t.Errorf("event_source s3 still creates %d EventBridge rules", n)
	}
	q := get(t, mod, "aws_s3_bucket_notification.landing", "queue", 0)
	if q.GetAttr("queue_arn").AsString() != getString(t, mod, "aws_sqs_queue.events", "arn") {
		t.Errorf("landing notifies %s", q.GetAttr("queue_arn").AsString())
	}
	if ev := q.GetAttr("events"); ev.LengthInt() != 1 || ev.Index(cty.NumberIntVal(0)).AsString() != "s3:ObjectCreated:*" {
		t.Errorf("landing notifies the queue of %s, want s3:ObjectCreated:*", ev.GoString())
	}
	assertQueueAccepts(t, mod, "s3.amazonaws.com", getString(t, mod, "aws_s3_bucket.ferry", "landing", "arn"))
}

func assertQueueAccepts(t *testing.T, mod *tfEval, service, sourceARN string) {
	t.Helper()
	queueARN := getString(t, mod, "aws_sqs_queue.events", "arn")
	policy := parsePolicy(t, "queue policy", getString(t, mod, "aws_sqs_queue_policy.events", "policy"))
	ok := slices.ContainsFunc(policy.Statement, func(s iamStatement) bool {
		return s.Effect == "Allow" && slices.Equal(s.principals()["Service"], []string{service}) && slices.Equal(s.Action, []string{"sqs:SendMessage"}) &&
			slices.Equal(s.Resource, []string{queueARN}) && slices.Equal(s.Condition["ArnEquals"]["aws:SourceArn"], []string{sourceARN})
	})
	if !ok {
		t.Errorf("the queue's policy does not let %s send from %s (and only from it):\n%+v", service, sourceARN, policy)
	}
	for _, s := range policy.Statement {
		if s.Effect == "Allow" && !slices.Equal(s.principals()["Service"], []string{service}) {
			t.Errorf("the queue's policy also lets %s send", s.Principal)
		}
	}
}

// evalWith evaluates the module alone with the example's partners and
// some inputs of a test's choosing.
func evalWith(t *testing.T, inputs map[string]cty.Value) *tfEval {
	t.Helper()
	_, mod := example(t)
	inputs["partners"] = mod.vars["partners"]
	e, err := evalModule(tfModuleDir, inputs, tfRegion)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
