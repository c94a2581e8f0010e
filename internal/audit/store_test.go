//go:build integration

package audit_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/stacktest"
)

func TestAppendNeverOverwrites(t *testing.T) {
	st := stacktest.Require(t, stacktest.DynamoDB).AuditTable(t)
	ctx := context.Background()
	es := chain("ingest-acme-1")
	for _, e := range es {
		if err := st.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// A retried activity re-appends the same entry: fine.
	if err := st.Append(ctx, es[1]); err != nil {
		t.Fatalf("re-appending the identical entry: %v", err)
	}
	// Another entry under an existing number: refused, and named.
	forged := audit.Next(&es[0], "ingest-acme-1", time.Now(), "mallory", "approve", "let it through")
	err := st.Append(ctx, forged)
	var conflict *audit.ConflictError
	if !errors.As(err, &conflict) || conflict.Existing.Actor != "eve" {
		t.Fatalf("overwriting entry 2 gave %v, want a ConflictError", err)
	}
	got, err := st.List(ctx, "ingest-acme-1")
	if err != nil || len(got) != 3 || got[1].Actor != "eve" {
		t.Fatalf("trail after the attempts: %+v, %v", got, err)
	}
}

// Someone with write access to the table edits or removes entries
// directly; verification names the first broken entry.
func TestVerifyCatchesTamperingInTheTable(t *testing.T) {
	stack := stacktest.Require(t, stacktest.DynamoDB)
	ctx := context.Background()
	key := func(id string, seq int) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"file_id": &types.AttributeValueMemberS{Value: id}, "seq": &types.AttributeValueMemberN{Value: strconv.Itoa(seq)}}
	}
	tests := []struct {
		name    string
		tamper  func(st *audit.Store, id string, es []audit.Entry)
		seq     int64
		problem string
	}{
		{"edited details", func(st *audit.Store, id string, _ []audit.Entry) {
			editDetails(t, st, id, 2, "approved")
		}, 2, "edited after it was written"},
		{"edited with a recomputed hash", func(st *audit.Store, id string, es []audit.Entry) {
			// The forger rewrites entry 2 consistently; entry 3 still points at the original.
			forged := audit.Next(&es[0], id, time.Now(), "alice", "approve", "forged")
			if _, err := st.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(st.Table), Key: key(id, 2)}); err != nil {
				t.Fatal(err)
			}
			if err := st.Append(ctx, forged); err != nil {
				t.Fatal(err)
			}
		}, 3, "does not chain to entry 2"},
		{"removed entry", func(st *audit.Store, id string, _ []audit.Entry) {
			if _, err := st.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(st.Table), Key: key(id, 2)}); err != nil {
				t.Fatal(err)
			}
		}, 2, "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := stack.AuditTable(t)
			id := stacktest.Unique("ingest-acme-")
			es := chain(id)
			for _, e := range es {
				if err := st.Append(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			tt.tamper(st, id, es)
			got, err := st.List(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			b := audit.Verify(got)
			if b == nil || b.Seq != tt.seq || !strings.Contains(b.Problem, tt.problem) {
				t.Fatalf("Verify = %v, want entry %d: %s", b, tt.seq, tt.problem)
			}
		})
	}
}

// editDetails rewrites entry seq's details in the table, as someone with
// write access to it could, without recomputing its hash.
func editDetails(t *testing.T, st *audit.Store, id string, seq int, details string) {
	t.Helper()
	_, err := st.DB.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String(st.Table),
		Key: map[string]types.AttributeValue{
			"file_id": &types.AttributeValueMemberS{Value: id}, "seq": &types.AttributeValueMemberN{Value: strconv.Itoa(seq)}},
		UpdateExpression:          aws.String("SET details = :d"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": &types.AttributeValueMemberS{Value: details}},
	})
	if err != nil {
		t.Fatal(err)
	}
}
