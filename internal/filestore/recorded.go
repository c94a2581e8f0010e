package filestore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// batchGetMax is BatchGetItem's limit of keys per call.
const batchGetMax = 100

// Recorded returns which of the file IDs have a record, asking for up to
// 100 at a time (BatchGetItem, the key alone, strongly consistent): a
// listing of a thousand versions is ten requests, not a thousand. Keys
// DynamoDB leaves unprocessed (throttling) are asked again with backoff.
func (s *Store) Recorded(ctx context.Context, fileIDs []string) (map[string]bool, error) {
	out := make(map[string]bool, len(fileIDs))
	// A batch must not name a key twice; a listing may.
	for ids := range slices.Chunk(dedupe(fileIDs), batchGetMax) {
		keys := make([]map[string]types.AttributeValue, 0, len(ids))
		for _, id := range ids {
			keys = append(keys, key(id))
		}
		req := map[string]types.KeysAndAttributes{s.Table: {
			Keys: keys, ProjectionExpression: aws.String("file_id"), ConsistentRead: aws.Bool(true),
		}}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt == 10 {
				return nil, fmt.Errorf("reading %d records from table %s: DynamoDB left keys unprocessed 10 times (throttled?)", len(keys), s.Table)
			}
			if attempt > 0 {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(min(50*time.Millisecond<<attempt, 5*time.Second)):
				}
			}
			res, err := s.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("reading %d records from table %s: %w", len(keys), s.Table, err)
			}
			for _, item := range res.Responses[s.Table] {
				if v, ok := item["file_id"].(*types.AttributeValueMemberS); ok {
					out[v.Value] = true
				}
			}
			req = res.UnprocessedKeys
		}
	}
	return out, nil
}
