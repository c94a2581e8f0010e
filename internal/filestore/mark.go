package filestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A mark is a named point in time kept in the files table, for a
// background job that must know after a restart how far it got (the
// audit verifier). Its item has only a key and the time: no status,
// partner or updated_at, so it appears in no index and no file listing,
// and its key ("mark#...") is one no file ID takes (they start with the
// workflow's kind, e.g. "ingest-").
func markKey(name string) map[string]types.AttributeValue {
	return key("mark#" + name)
}

// Mark returns the time stored under name; the zero time when none is.
func (s *Store) Mark(ctx context.Context, name string) (time.Time, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: markKey(name), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("reading mark %s from table %s: %w", name, s.Table, err)
	}
	v, ok := out.Item["at"].(*types.AttributeValueMemberS)
	if !ok {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v.Value)
	if err != nil {
		return time.Time{}, fmt.Errorf("mark %s in table %s holds %q, not a time: %w", name, s.Table, v.Value, err)
	}
	return t, nil
}

// SetMark stores at under name unless a later time is stored already:
// replicas that each set the mark move it only forward.
func (s *Store) SetMark(ctx context.Context, name string, at time.Time) error {
	v := at.UTC().Format(sortableTime)
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       markKey(name),
		UpdateExpression:          aws.String("SET #at = :at"),
		ConditionExpression:       aws.String("attribute_not_exists(#at) OR #at < :at"),
		ExpressionAttributeNames:  map[string]string{"#at": "at"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": &types.AttributeValueMemberS{Value: v}},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil // a replica got further
	}
	if err != nil {
		return fmt.Errorf("setting mark %s in table %s to %s: %w", name, s.Table, v, err)
	}
	return nil
}
