package activities

import (
	"context"

	"github.com/ferrydata/ferry/internal/anchor"
	"github.com/ferrydata/ferry/internal/fileid"
)

// AnchorFileInput is AnchorFile's input: the head of the file's chain as
// the workflow stored it (its own history, not a read of DynamoDB, which
// is what the anchor guards against).
type AnchorFileInput struct {
	Head anchor.Head
}

// AnchorFileResult names the anchor object ("" when anchoring is off).
type AnchorFileResult struct {
	Key string
}

// AnchorFile writes the file's audit head into the anchor bucket, locked
// in COMPLIANCE mode (internal/anchor). A head anchored already stays as
// it is.
func (a *Activities) AnchorFile(ctx context.Context, in *AnchorFileInput) (*AnchorFileResult, error) {
	if a.Anchors == nil {
		return &AnchorFileResult{}, nil
	}
	key, err := a.Anchors.AnchorFile(ctx, in.Head, "IngestFile "+in.Head.FileID)
	if err != nil {
		return nil, err
	}
	FileRef{FileID: in.Head.FileID, Partner: fileid.Partner(in.Head.FileID)}.logger(ctx).Info("audit head anchored",
		"seq", in.Head.Seq, "anchor_bucket", a.Anchors.Bucket, "anchor_key", key)
	return &AnchorFileResult{Key: key}, nil
}
