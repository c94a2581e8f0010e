#!/usr/bin/env bash
# Every check and every test tier, as CI runs them (make test, .ci/run):
#
#   go test ./...                          unit, testsuite and fuzz-corpus tests:
#                                          seconds, no services
#   go test -tags integration ./...        + each component against the real
#                                          services its tests declare, started
#                                          per test binary on free ports
#   go test -tags integration,e2e ./...    + internal/e2e against the whole
#                                          local stack (fixed ports)
#   FERRY_TEST_S3=versitygw go test        the S3 tests again, on versitygw
#     -tags integration ./activities/ ...  instead of MinIO
#
# It installs the pinned tools first (a first build shows its progress here,
# not inside a test's timeout), checks gofmt, go.mod's tidiness and go vet
# with every tag, runs every tier with the race detector, fuzzes each target
# for 10 s, and reports every failure before it exits non-zero. The tests
# start the services they need and stop them (internal/stacktest); should a
# test binary die first, the local stack is stopped here unless it was
# running before. Arguments go to go test (e.g. -run).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TAGS=integration,e2e

say() { printf '%s\n' "test: $*" >&2; }

cd "$ROOT"
# The main run is on MinIO, whatever the caller's environment selects; the
# versitygw run below selects versitygw itself.
unset FERRY_TEST_S3
"$HERE/install.sh" >/dev/null
if ! "$HERE/stack.sh" status >/dev/null 2>&1; then
	trap '"$HERE/stack.sh" down >/dev/null' EXIT
fi

rc=0
say "gofmt"
unformatted="$(gofmt -l $(git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null || find . -name '*.go' -not -path './deploy/local/node_modules/*'))"
[[ -z "$unformatted" ]] || { say "not gofmt-formatted: $unformatted"; rc=1; }

say "go mod tidy -diff"
go mod tidy -diff || { say "go.mod or go.sum is not tidy: run go mod tidy"; rc=1; }

say "go vet -tags $TAGS ./..."
go vet -tags "$TAGS" ./... || rc=1

say "go test -race -tags $TAGS ./..."
# -race: the worker copies parts and hashes on several goroutines.
# internal/e2e takes about 23 minutes here (the fault suite and the load
# run, shortened); the timeout leaves it room on a busier machine, within
# CI's 90 minutes.
go test -race -count=1 -timeout 50m -tags "$TAGS" "$@" ./... || rc=1

# The S3 tests again on a second implementation of the API, versitygw
# (internal/stacktest's FERRY_TEST_S3): Ferry uses only the S3 API, and
# MinIO's source was archived upstream. The packages whose tests are about
# what S3 does (the activities, the S3 readiness check, stacktest's S3),
# and the worker's test of the governance a record claims; the worker's
# other tests deliver acme's SSE-KMS files, which versitygw does not
# encrypt.
say "go test -race -tags integration on versitygw (FERRY_TEST_S3=versitygw)"
FERRY_TEST_S3=versitygw go test -race -count=1 -timeout 30m -tags integration "$@" ./activities/ ./internal/health/ ./internal/stacktest/ || rc=1
FERRY_TEST_S3=versitygw go test -race -count=1 -timeout 30m -tags integration "$@" -run '^TestWorkerRecordsTheGovernanceS3Applied$' ./worker/ || rc=1

# A short fuzzing run of each target on top of the committed corpus.
for target in internal/s3event:FuzzParse internal/landing:FuzzRoute internal/rules:FuzzContentCheckChunking internal/pgp:FuzzDecrypt internal/batch:FuzzParseManifest; do
	say "fuzzing ${target#*:} for 10s"
	go test -run '^$' -fuzz "^${target#*:}\$" -fuzztime 10s "./${target%%:*}" || rc=1
done
exit "$rc"
