// Package e2e drives Ferry the way its users do: a partner uploads with
// OpenSSH sftp, an operator finds the workflow with the temporal CLI, and
// the test checks what a compliance reviewer would: the delivered bytes,
// their SHA-256, the DynamoDB record and the notification.
//
// Its tests need the whole local stack and carry the e2e build tag:
//
//	go test -tags e2e ./internal/e2e/
//
// (stacktest starts the stack unless it runs, and stops what it started.)
package e2e
