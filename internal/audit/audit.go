// Package audit keeps Ferry's append-only audit trail in DynamoDB: one
// entry per state change and per decision (accepted or refused), numbered
// per file and chained by hash, so the chain for a file proves that no
// entry was removed or edited. Entries are written with conditional puts
// and never overwritten.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Entry is one audited event.
type Entry struct {
	FileID string `dynamodbav:"file_id" json:"fileId"`
	Seq    int64  `dynamodbav:"seq" json:"seq"`
	At     string `dynamodbav:"at" json:"at"` // RFC 3339, UTC
	// Actor is who acted: "ferry" for the pipeline, or the approver.
	Actor string `dynamodbav:"actor" json:"actor"`
	// Action is what happened: "status:delivered", "approve", "refused:approve", ...
	Action   string `dynamodbav:"action" json:"action"`
	Details  string `dynamodbav:"details" json:"details,omitempty"`
	PrevHash string `dynamodbav:"prev_hash" json:"prevHash"`
	Hash     string `dynamodbav:"hash" json:"hash"`
}

// Next builds the entry after prev (nil for a file's first entry), with its
// hash. It is pure, so workflow code builds the chain deterministically.
func Next(prev *Entry, fileID string, at time.Time, actor, action, details string) Entry {
	e := Entry{FileID: fileID, Seq: 1, At: at.UTC().Format(time.RFC3339Nano), Actor: actor, Action: action, Details: details}
	if prev != nil {
		e.Seq, e.PrevHash = prev.Seq+1, prev.Hash
	}
	e.Hash = e.computeHash()
	return e
}

// computeHash hashes every field but the hash itself, length-prefixed so
// no two different entries serialize alike.
func (e Entry) computeHash() string {
	h := sha256.New()
	for _, f := range []string{e.FileID, strconv.FormatInt(e.Seq, 10), e.At, e.Actor, e.Action, e.Details, e.PrevHash} {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Restates reports whether o, an entry already stored, records the same
// event as e: the same file, number, predecessor, actor, action and
// details, and intact (its hash is its content's), however its time
// differs. A workflow step that runs again after the first run wrote its
// entry (its worker died, or Temporal lost the workflow task, before the
// workflow recorded that the step was done) builds the entry anew at the
// time of the second run; the trail stays one chain if the step goes on
// from the stored entry.
func (e Entry) Restates(o Entry) bool {
	return o.FileID == e.FileID && o.Seq == e.Seq && o.PrevHash == e.PrevHash &&
		o.Actor == e.Actor && o.Action == e.Action && o.Details == e.Details && o.computeHash() == o.Hash
}

// Store appends to and reads the audit table.
type Store struct {
	DB    *dynamodb.Client
	Table string
}

// ConflictError says an entry with the same number but other content is
// already recorded: someone else wrote into this file's chain.
type ConflictError struct{ Existing, Proposed Entry }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("audit entry %d of %s already exists with other content (hash %s, not %s): the trail may have been tampered with",
		e.Proposed.Seq, e.Proposed.FileID, e.Existing.Hash, e.Proposed.Hash)
}

// Append records e unless an entry with its number exists. Re-appending
// the identical entry (a retried activity) succeeds; a different one is a
// *ConflictError.
func (s *Store) Append(ctx context.Context, e Entry) error {
	item, err := attributevalue.MarshalMap(e)
	if err != nil {
		return fmt.Errorf("encoding audit entry: %w", err)
	}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.Table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(file_id)"),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		got, gerr := s.get(ctx, e.FileID, e.Seq)
		if gerr != nil {
			return gerr
		}
		if got.Hash == e.Hash {
			return nil
		}
		return &ConflictError{Existing: *got, Proposed: e}
	}
	if err != nil {
		return fmt.Errorf("appending audit entry %d of %s to %s: %w", e.Seq, e.FileID, s.Table, err)
	}
	return nil
}

// Get returns a file's entry under seq, and false when there is none.
func (s *Store) Get(ctx context.Context, fileID string, seq int64) (*Entry, bool, error) {
	e, err := s.get(ctx, fileID, seq)
	if err != nil || e.FileID == "" {
		return nil, false, err
	}
	return e, true, nil
}

func (s *Store) get(ctx context.Context, fileID string, seq int64) (*Entry, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			"file_id": &types.AttributeValueMemberS{Value: fileID},
			"seq":     &types.AttributeValueMemberN{Value: strconv.FormatInt(seq, 10)},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("reading audit entry %d of %s: %w", seq, fileID, err)
	}
	var e Entry
	return &e, attributevalue.UnmarshalMap(out.Item, &e)
}

// List returns a file's entries in order.
func (s *Store) List(ctx context.Context, fileID string) ([]Entry, error) {
	p := dynamodb.NewQueryPaginator(s.DB, &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		KeyConditionExpression:    aws.String("file_id = :f"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":f": &types.AttributeValueMemberS{Value: fileID}},
		ConsistentRead:            aws.Bool(true),
	})
	var all []Entry
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the audit trail of %s: %w", fileID, err)
		}
		var es []Entry
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &es); err != nil {
			return nil, err
		}
		all = append(all, es...)
	}
	return all, nil
}

// Head returns a file's last entry, or nil when it has none.
func (s *Store) Head(ctx context.Context, fileID string) (*Entry, error) {
	out, err := s.DB.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		KeyConditionExpression:    aws.String("file_id = :f"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":f": &types.AttributeValueMemberS{Value: fileID}},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(1),
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("reading the last audit entry of %s: %w", fileID, err)
	}
	if len(out.Items) == 0 {
		return nil, nil
	}
	var e Entry
	if err := attributevalue.UnmarshalMap(out.Items[0], &e); err != nil {
		return nil, fmt.Errorf("decoding the last audit entry of %s: %w", fileID, err)
	}
	return &e, nil
}

// Break is the first place a chain does not hold.
type Break struct {
	Seq     int64
	Problem string
}

func (b *Break) Error() string { return fmt.Sprintf("audit entry %d: %s", b.Seq, b.Problem) }

// Verify checks a file's entries (in order) and returns the first break,
// or nil when the chain proves nothing was removed or edited.
func Verify(entries []Entry) *Break {
	if len(entries) == 0 {
		return &Break{Seq: 1, Problem: "the file has no audit entries at all"}
	}
	var prev *Entry
	for i := range entries {
		e := entries[i]
		want := int64(i + 1)
		switch {
		case e.Seq != want:
			return &Break{Seq: want, Problem: fmt.Sprintf("missing: the next recorded entry is %d (entries were removed)", e.Seq)}
		case prev != nil && e.PrevHash != prev.Hash:
			return &Break{Seq: e.Seq, Problem: fmt.Sprintf("does not chain to entry %d (previous hash %s, recorded %s)", prev.Seq, prev.Hash, e.PrevHash)}
		case prev == nil && e.PrevHash != "":
			return &Break{Seq: e.Seq, Problem: "the first entry claims a predecessor"}
		case e.computeHash() != e.Hash:
			return &Break{Seq: e.Seq, Problem: "its content does not match its hash: it was edited after it was written"}
		}
		prev = &entries[i]
	}
	return nil
}

// Summary is one line per entry, for operators.
func Summary(es []Entry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "%3d  %s  %-8s %-26s %s\n", e.Seq, e.At, e.Actor, e.Action, e.Details)
	}
	return b.String()
}

// CreateTable creates the audit table (key: file_id, seq) if missing.
func CreateTable(ctx context.Context, db *dynamodb.Client, table string) error {
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("file_id"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("seq"), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("file_id"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("seq"), KeyType: types.KeyTypeRange},
		},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("creating DynamoDB table %s: %w", table, err)
	}
	w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 200 * time.Millisecond })
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute); err != nil {
		return fmt.Errorf("waiting for DynamoDB table %s: %w", table, err)
	}
	return nil
}
