package stacktest

import (
	"strings"
	"testing"
)

func TestAnEnvironmentVariableSelectsTheS3Server(t *testing.T) {
	for _, tt := range []struct {
		env  string
		want S3Server
	}{{"", MinIO}, {"minio", MinIO}, {"versitygw", VersityGW}} {
		t.Setenv(S3ServerEnv, tt.env)
		if got, err := selectedS3(); err != nil || got != tt.want {
			t.Errorf("%s=%q selects %q (%v), want %q", S3ServerEnv, tt.env, got, err, tt.want)
		}
	}
	t.Setenv(S3ServerEnv, "MinIO2")
	_, err := selectedS3()
	if err == nil || !strings.Contains(err.Error(), `FERRY_TEST_S3="MinIO2" names no S3 server stacktest runs: leave it unset (or "minio") for MinIO, or set it to "versitygw"`) {
		t.Fatalf("an unknown server: %v", err)
	}
}
