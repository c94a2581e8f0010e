//go:build e2e

package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ferrydata/ferry/internal/stacktest"
)

// Partners log in to the local stack's SFTP as to Transfer Family: with an
// SSH key, here one the stack's user CA certified for that partner's name.
// Every other way in is refused before anything is written.
func TestSFTPLoginTakesOnlyAKeyCertifiedForThatPartner(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	keyOnly := func(key string) []string { return []string{"-i", key, "-oIdentitiesOnly=yes", "-oBatchMode=yes"} }

	tests := []struct {
		name      string
		user      string
		auth, env func(t *testing.T) []string
	}{
		{
			name: "acme's certified key, as globex",
			user: "globex",
			auth: func(t *testing.T) []string { return keyOnly(st.PartnerKey(t, "acme")) },
		},
		{
			// The secret MinIO keeps for the user, which was its SFTP
			// password before key logins; OpenSSH is given it through
			// SSH_ASKPASS, so the test needs no sshpass.
			name: "acme's MinIO secret as a password",
			user: "acme",
			auth: func(t *testing.T) []string {
				return []string{"-oPubkeyAuthentication=no", "-oPreferredAuthentications=password,keyboard-interactive", "-oBatchMode=no"}
			},
			env: func(t *testing.T) []string { return askpass(t, minioSecret(t, st, "acme")) },
		},
		{
			name: "a key no CA certified",
			user: "acme",
			auth: func(t *testing.T) []string { return keyOnly(newKey(t)) },
		},
		{
			name: "a key certified for acme whose certificate expired",
			user: "acme",
			auth: func(t *testing.T) []string {
				key := newKey(t)
				sshKeygen(t, "-s", st.SFTPUserCA(t), "-I", "acme", "-n", "acme", "-V", "20200101:20200102", key+".pub")
				return keyOnly(key)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := stacktest.Unique("refused-") + ".csv"
			key := tt.user + "/inbound/" + name
			var env []string
			if tt.env != nil {
				env = tt.env(t)
			}
			out, err := sftpLogin(t, st, tt.user, tt.auth(t), env, "put "+localFile(t, name, []byte("id,qty\n1,5\n"))+" /landing/"+tt.user+"/inbound/")
			var exit *exec.ExitError
			if !errors.As(err, &exit) || !strings.Contains(out, "Permission denied") {
				t.Fatalf("sftp as %s: %v, want a non-zero exit and \"Permission denied\":\n%s", tt.user, err, out)
			}
			if landed(t, st, key) {
				t.Fatalf("the refused login wrote s3://landing/%s", key)
			}
		})
	}

	// What a partner does with a key of its own, as the README's
	// "Onboarding a partner" says: the operator certifies its public key.
	t.Run("a partner's own key, certified as the README says", func(t *testing.T) {
		key := newKey(t)
		sshKeygen(t, "-s", st.SFTPUserCA(t), "-I", "acme", "-n", "acme", "-V", "+52w", key+".pub")
		name := stacktest.Unique("own-key-") + ".csv"
		out, err := sftpLogin(t, st, "acme", keyOnly(key), nil, "cd /landing/acme/inbound", "put "+localFile(t, name, []byte("id,qty\n1,5\n")))
		if err != nil {
			t.Fatalf("sftp as acme with its own certified key: %v\n%s", err, out)
		}
		// MinIO's SFTP server writes in the background after the client is told.
		stacktest.Eventually(t, 10*time.Second, func() (bool, string) {
			return landed(t, st, "acme/inbound/"+name), "the upload is not in s3://landing/acme/inbound/ yet"
		})
	})
}

// newKey makes an ed25519 key pair, as a partner would, and returns the
// private key's path (the public key is path.pub).
func newKey(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "id_ed25519")
	sshKeygen(t, "-q", "-t", "ed25519", "-N", "", "-C", "partner@example.com", "-f", path)
	return path
}

func sshKeygen(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// askpass is the environment that makes OpenSSH answer a password prompt
// with password, without a terminal.
func askpass(t *testing.T, password string) []string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "password"), []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "askpass")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ncat '"+filepath.Join(dir, "password")+"'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return []string{"SSH_ASKPASS=" + script, "SSH_ASKPASS_REQUIRE=force"}
}

// minioSecret is the secret key the provisioner gave the partner's MinIO
// user (deploy/local/provision).
func minioSecret(t *testing.T, st *stacktest.Stack, partner string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(st.Env["FERRY_SECRETS_DIR"], "minio-users", partner))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// landed says whether the landing bucket holds key.
func landed(t *testing.T, st *stacktest.Stack, key string) bool {
	t.Helper()
	_, err := st.AWS.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(st.Config.Landing.Bucket), Key: aws.String(key)})
	var missing *types.NotFound
	if errors.As(err, &missing) {
		return false
	}
	if err != nil {
		t.Fatalf("HeadObject s3://%s/%s: %v", st.Config.Landing.Bucket, key, err)
	}
	return true
}
