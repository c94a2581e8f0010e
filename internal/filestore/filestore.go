// Package filestore keeps Ferry's record of every file in DynamoDB: one
// item per object version, keyed by the workflow ID, with a global
// secondary index to list files by status and one to list them by partner.
//
// Status changes are conditional writes that never move a file backwards,
// so a replayed or retried activity cannot undo a later stage. No
// transactions are used (dynalite, the local DynamoDB, has none).
package filestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/ingest"
)

// Index names, part of the table's contract with dashboards and runbooks.
const (
	StatusIndex  = "by-status"  // hash: status, range: updated_at
	PartnerIndex = "by-partner" // hash: partner, range: received_at
)

// File is one object version's record.
type File struct {
	FileID      string            `dynamodbav:"file_id"`
	Partner     string            `dynamodbav:"partner"`
	Bucket      string            `dynamodbav:"bucket"`
	Key         string            `dynamodbav:"key"`
	VersionID   string            `dynamodbav:"version_id,omitempty"`
	ETag        string            `dynamodbav:"etag,omitempty"`
	Size        int64             `dynamodbav:"size"`
	Status      filestatus.Status `dynamodbav:"status"`
	Reasons     []string          `dynamodbav:"reasons,omitempty"`
	SHA256      string            `dynamodbav:"sha256,omitempty"`
	ContentType string            `dynamodbav:"content_type,omitempty"`
	// PartnerSHA256 is the checksum the partner's sidecar vouched for.
	PartnerSHA256 string `dynamodbav:"partner_sha256,omitempty"`
	S3Checksum    string `dynamodbav:"s3_checksum,omitempty"`
	S3ChecksumAlg string `dynamodbav:"s3_checksum_algorithm,omitempty"`
	DestBucket    string `dynamodbav:"dest_bucket,omitempty"`
	DestKey       string `dynamodbav:"dest_key,omitempty"`
	DestVersionID string `dynamodbav:"dest_version_id,omitempty"`
	// Governance applied to the delivered version, as S3 reported it.
	Encryption    string `dynamodbav:"encryption,omitempty"`
	KMSKeyID      string `dynamodbav:"kms_key_id,omitempty"`
	RetentionMode string `dynamodbav:"retention_mode,omitempty"`
	RetainUntil   string `dynamodbav:"retain_until,omitempty"`
	// Where a file that broke a rule was copied for examination.
	QuarantineBucket    string `dynamodbav:"quarantine_bucket,omitempty"`
	QuarantineKey       string `dynamodbav:"quarantine_key,omitempty"`
	QuarantineVersionID string `dynamodbav:"quarantine_version_id,omitempty"`
	WorkflowRunID       string `dynamodbav:"workflow_run_id,omitempty"`
	// The malware scan: verdict (clean, found, not_scanned), what was
	// found or why it was not scanned, and the scanner that said so.
	ScanVerdict  string `dynamodbav:"scan_verdict,omitempty"`
	ScanFinding  string `dynamodbav:"scan_finding,omitempty"`
	Scanner      string `dynamodbav:"scanner,omitempty"`
	ScanEngine   string `dynamodbav:"scan_engine,omitempty"`
	ScanDatabase string `dynamodbav:"scan_database,omitempty"`
	// A decrypted PGP upload: the ciphertext as uploaded (SHA256 and
	// Size above are the plaintext's, delivered) and its signature.
	CiphertextSHA256     string `dynamodbav:"ciphertext_sha256,omitempty"`
	CiphertextSize       int64  `dynamodbav:"ciphertext_size,omitempty"`
	CiphertextS3Checksum string `dynamodbav:"ciphertext_s3_checksum,omitempty"`
	DecryptedWith        string `dynamodbav:"decrypted_with,omitempty"`
	SignatureStatus      string `dynamodbav:"signature_status,omitempty"`
	SignerFingerprint    string `dynamodbav:"signer_fingerprint,omitempty"`
	// Provenance: who wrote the object and from where, as its event said
	// (internal/ingest.Provenance); ProvenanceNote says why it is missing
	// (a file a listing found has no event).
	Principal      string `dynamodbav:"principal,omitempty"`
	SourceIP       string `dynamodbav:"source_ip,omitempty"`
	RequestID      string `dynamodbav:"request_id,omitempty"`
	EventTime      string `dynamodbav:"event_time,omitempty"` // RFC 3339, UTC
	ProvenanceNote string `dynamodbav:"provenance_note,omitempty"`
	ReceivedAt     string `dynamodbav:"received_at"`
	UpdatedAt      string `dynamodbav:"updated_at"`
	// StageTimes holds when the file entered each status (RFC 3339, UTC).
	StageTimes map[string]string `dynamodbav:"stage_times"`
}

// Provenance is who wrote the file and from where, as the record holds
// it; nil for records from before Ferry recorded it.
func (f *File) Provenance() *ingest.Provenance {
	if f.Principal == "" && f.SourceIP == "" && f.RequestID == "" && f.EventTime == "" && f.ProvenanceNote == "" {
		return nil
	}
	p := &ingest.Provenance{Principal: f.Principal, SourceIP: f.SourceIP, RequestID: f.RequestID, Note: f.ProvenanceNote}
	// Written by RecordReceived as RFC 3339; anything else is left out
	// rather than guessed.
	p.EventTime, _ = time.Parse(time.RFC3339Nano, f.EventTime)
	return p
}

// Store reads and writes file records.
type Store struct {
	DB    *dynamodb.Client
	Table string
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// New returns a Store on table.
func New(db *dynamodb.Client, table string) *Store {
	return &Store{DB: db, Table: table, Now: func() time.Time { return time.Now().UTC() }}
}

// ErrNotFound is returned by Get for an unknown file.
var ErrNotFound = errors.New("file record not found")

// StatusConflictError says a status change was refused because the file
// is already further along (or elsewhere) in its lifecycle.
type StatusConflictError struct {
	FileID   string
	Current  filestatus.Status
	Proposed filestatus.Status
}

func (e *StatusConflictError) Error() string {
	return fmt.Sprintf("file %s is %s; refusing to move it to %s (a file never moves backwards)", e.FileID, e.Current, e.Proposed)
}

// Receive records a newly seen file as received. If the file is already
// recorded it changes nothing and returns the existing record with
// created=false: the caller decides (a replayed event must not deliver twice).
func (s *Store) Receive(ctx context.Context, f File) (existing *File, created bool, err error) {
	now := s.Now().Format(time.RFC3339Nano)
	f.Status = filestatus.Received
	f.ReceivedAt, f.UpdatedAt = now, now
	f.StageTimes = map[string]string{string(filestatus.Received): now}
	item, err := attributevalue.MarshalMap(f)
	if err != nil {
		return nil, false, fmt.Errorf("encoding file record %s: %w", f.FileID, err)
	}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.Table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(file_id)"),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		got, gerr := s.Get(ctx, f.FileID)
		if gerr != nil {
			return nil, false, gerr
		}
		return got, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("recording file %s as received in table %s: %w", f.FileID, s.Table, err)
	}
	return &f, true, nil
}

// Change is a status change and the facts learnt with it. Empty fields
// leave the record's value alone.
type Change struct {
	Status        filestatus.Status
	Reasons       []string
	SHA256        string
	Size          int64
	ContentType   string
	PartnerSHA256 string
	S3Checksum    string
	S3ChecksumAlg string
	DestBucket    string
	DestKey       string
	DestVersionID string
	Encryption    string
	KMSKeyID      string
	RetentionMode string
	RetainUntil   time.Time

	QuarantineBucket    string
	QuarantineKey       string
	QuarantineVersionID string

	ScanVerdict, ScanFinding, Scanner, ScanEngine, ScanDatabase string

	CiphertextSHA256     string
	CiphertextSize       int64
	CiphertextS3Checksum string // "ALG value"
	DecryptedWith        string // Ferry's key's fingerprint
	SignatureStatus      string
	SignerFingerprint    string
}

// Move applies a status change if the file's current status allows it
// (filestatus.Predecessors); otherwise it returns *StatusConflictError.
func (s *Store) Move(ctx context.Context, fileID string, c Change) error {
	now := s.Now().Format(time.RFC3339Nano)
	names := map[string]string{"#status": "status", "#updated": "updated_at", "#stages": "stage_times", "#stage": string(c.Status)}
	values := map[string]types.AttributeValue{
		":status":  &types.AttributeValueMemberS{Value: string(c.Status)},
		":updated": &types.AttributeValueMemberS{Value: now},
	}
	set := "SET #status = :status, #updated = :updated, #stages.#stage = :updated"
	add := func(attr, val string) {
		if val == "" {
			return
		}
		names["#"+attr] = attr
		values[":"+attr] = &types.AttributeValueMemberS{Value: val}
		set += fmt.Sprintf(", #%s = :%s", attr, attr)
	}
	add("sha256", c.SHA256)
	add("content_type", c.ContentType)
	add("partner_sha256", c.PartnerSHA256)
	add("s3_checksum", c.S3Checksum)
	add("s3_checksum_algorithm", c.S3ChecksumAlg)
	add("dest_bucket", c.DestBucket)
	add("dest_key", c.DestKey)
	add("dest_version_id", c.DestVersionID)
	add("encryption", c.Encryption)
	add("kms_key_id", c.KMSKeyID)
	add("retention_mode", c.RetentionMode)
	if !c.RetainUntil.IsZero() {
		add("retain_until", c.RetainUntil.UTC().Format(time.RFC3339))
	}
	add("quarantine_bucket", c.QuarantineBucket)
	add("quarantine_key", c.QuarantineKey)
	add("quarantine_version_id", c.QuarantineVersionID)
	add("scan_verdict", c.ScanVerdict)
	add("scan_finding", c.ScanFinding)
	add("scanner", c.Scanner)
	add("scan_engine", c.ScanEngine)
	add("scan_database", c.ScanDatabase)
	add("ciphertext_sha256", c.CiphertextSHA256)
	add("ciphertext_s3_checksum", c.CiphertextS3Checksum)
	add("decrypted_with", c.DecryptedWith)
	add("signature_status", c.SignatureStatus)
	add("signer_fingerprint", c.SignerFingerprint)
	if c.CiphertextSize > 0 {
		names["#csize"] = "ciphertext_size"
		values[":csize"] = &types.AttributeValueMemberN{Value: fmt.Sprint(c.CiphertextSize)}
		set += ", #csize = :csize"
	}
	if c.Size > 0 {
		names["#size"] = "size"
		values[":size"] = &types.AttributeValueMemberN{Value: fmt.Sprint(c.Size)}
		set += ", #size = :size"
	}
	if len(c.Reasons) > 0 {
		names["#reasons"] = "reasons"
		values[":reasons"] = &types.AttributeValueMemberSS{Value: dedupe(c.Reasons)}
		set += ", #reasons = :reasons"
	}
	cond := "attribute_exists(file_id) AND #status IN ("
	for i, p := range filestatus.Predecessors(c.Status) {
		k := fmt.Sprintf(":from%d", i)
		values[k] = &types.AttributeValueMemberS{Value: string(p)}
		if i > 0 {
			cond += ", "
		}
		cond += k
	}
	cond += ")"

	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       key(fileID),
		UpdateExpression:          aws.String(set),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		cur, gerr := s.Get(ctx, fileID)
		if errors.Is(gerr, ErrNotFound) {
			return fmt.Errorf("moving file %s to %s: %w (it must be received first)", fileID, c.Status, ErrNotFound)
		}
		if gerr != nil {
			return gerr
		}
		return &StatusConflictError{FileID: fileID, Current: cur.Status, Proposed: c.Status}
	}
	if err != nil {
		return fmt.Errorf("moving file %s to %s in table %s: %w", fileID, c.Status, s.Table, err)
	}
	return nil
}

// Get reads one file's record.
func (s *Store) Get(ctx context.Context, fileID string) (*File, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            key(fileID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("reading file %s from table %s: %w", fileID, s.Table, err)
	}
	if out.Item == nil {
		return nil, fmt.Errorf("file %s: %w", fileID, ErrNotFound)
	}
	var f File
	if err := attributevalue.UnmarshalMap(out.Item, &f); err != nil {
		return nil, fmt.Errorf("decoding file record %s: %w", fileID, err)
	}
	return &f, nil
}

// ListByStatus returns up to limit files in a status, most recently updated first.
func (s *Store) ListByStatus(ctx context.Context, st filestatus.Status, limit int32) ([]File, error) {
	out, err := s.DB.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		IndexName:                 aws.String(StatusIndex),
		KeyConditionExpression:    aws.String("#status = :s"),
		ExpressionAttributeNames:  map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: string(st)}},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(limit),
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s files from index %s of %s: %w", st, StatusIndex, s.Table, err)
	}
	var files []File
	if err := attributevalue.UnmarshalListOfMaps(out.Items, &files); err != nil {
		return nil, fmt.Errorf("decoding file records: %w", err)
	}
	return files, nil
}

// sortableTime formats a bound on updated_at. Records hold RFC 3339 with
// trailing zeros trimmed, which does not sort as text within a second; a
// bound with all nine digits only ever admits a record from its own
// second that is a little older, never drops a newer one.
const sortableTime = "2006-01-02T15:04:05.000000000Z07:00"

// ListUpdatedSince returns every file whose record changed at or after
// since, with what identifies it (file_id, partner, status, bucket, key,
// version_id, updated_at). It queries the by-status index once per
// status, in lifecycle order: a file moves only forward in that order, so
// one that moves while the statuses are listed is still found at least
// once, and it is returned once. The index is eventually consistent: a
// change made a moment ago may not be listed yet.
func (s *Store) ListUpdatedSince(ctx context.Context, since time.Time) ([]File, error) {
	from := since.UTC().Format(sortableTime)
	seen := map[string]bool{}
	var out []File
	for _, st := range filestatus.All {
		files, err := s.queryAll(ctx, &dynamodb.QueryInput{
			IndexName:              aws.String(StatusIndex),
			KeyConditionExpression: aws.String("#status = :s AND #updated >= :since"),
			ExpressionAttributeNames: map[string]string{
				"#status": "status", "#updated": "updated_at", "#id": "file_id", "#partner": "partner",
				"#bucket": "bucket", "#key": "key", "#version": "version_id",
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":s":     &types.AttributeValueMemberS{Value: string(st)},
				":since": &types.AttributeValueMemberS{Value: from},
			},
			ProjectionExpression: aws.String("#id, #partner, #status, #bucket, #key, #version, #updated"),
		}, fmt.Sprintf("%s files updated since %s from index %s", st, from, StatusIndex))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if !seen[f.FileID] {
				seen[f.FileID] = true
				out = append(out, f)
			}
		}
	}
	return out, nil
}

// ListByPartner returns every file of a partner, oldest first.
func (s *Store) ListByPartner(ctx context.Context, partner string) ([]File, error) {
	return s.queryAll(ctx, &dynamodb.QueryInput{
		IndexName:                 aws.String(PartnerIndex),
		KeyConditionExpression:    aws.String("partner = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: partner}},
	}, fmt.Sprintf("%s's files from index %s", partner, PartnerIndex))
}

// queryAll runs q against the table, every page, and decodes the files;
// what names them in errors.
func (s *Store) queryAll(ctx context.Context, q *dynamodb.QueryInput, what string) ([]File, error) {
	q.TableName = aws.String(s.Table)
	p := dynamodb.NewQueryPaginator(s.DB, q)
	var files []File
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing %s of %s: %w", what, s.Table, err)
		}
		var fs []File
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &fs); err != nil {
			return nil, fmt.Errorf("decoding file records (%s): %w", what, err)
		}
		files = append(files, fs...)
	}
	return files, nil
}

func key(fileID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"file_id": &types.AttributeValueMemberS{Value: fileID}}
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
