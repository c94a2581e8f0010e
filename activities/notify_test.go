package activities_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/notify"
)

// appErr asserts err is a non-retryable application error of type typ.
func appErr(t *testing.T, err error, typ string) *temporal.ApplicationError {
	t.Helper()
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != typ {
		t.Fatalf("got error %v, want a %s application error", err, typ)
	}
	if !app.NonRetryable() {
		t.Fatalf("%s error must be non-retryable: %v", typ, err)
	}
	return app
}

// Notify needs no stack: a webhook receiver is an httptest server.
func TestNotifyClassifiesReceiverAnswers(t *testing.T) {
	var got []byte
	status := http.StatusNoContent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	acts := &activities.Activities{Notifier: notify.New(config.Notify{Webhooks: []config.Webhook{{Name: "test", URL: srv.URL}}}, nil)}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	in := &activities.NotifyInput{Event: notify.Event{Type: "file.delivered", FileID: "ingest-acme-1", Status: "delivered"}}

	if _, err := env.ExecuteActivity(activities.NotifyName, in); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, []byte(`"fileId":"ingest-acme-1"`)) {
		t.Fatalf("webhook received %s", got)
	}

	status = http.StatusBadRequest // the receiver refuses the request itself
	_, err := env.ExecuteActivity(activities.NotifyName, in)
	appErr(t, err, activities.ErrNotifyRefused)

	status = http.StatusServiceUnavailable // a passing outage: retry
	_, err = env.ExecuteActivity(activities.NotifyName, in)
	var app *temporal.ApplicationError
	if err == nil || (errors.As(err, &app) && app.NonRetryable()) {
		t.Fatalf("a 503 must fail retryably, got %v", err)
	}
}
