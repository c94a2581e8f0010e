# The two commands a newcomer needs (see README.md):
#   make run    install what is missing, start Ferry end to end on the local stack
#   make test   every check and every test tier (deploy/local/test.sh); go test ./... is the fast tier
.PHONY: run test stop status logs install bench faults load

run:
	@deploy/local/stack.sh up

test:
	@deploy/local/test.sh

stop:
	@deploy/local/stack.sh down

status:
	@deploy/local/stack.sh status || true

logs:
	@deploy/local/stack.sh logs

install:
	@deploy/local/install.sh >/dev/null

# Figures, never pass/fail (README, "Speed, measured"): a 1 GiB ingest on the
# local stack against bare GET / SHA-256 / CopyObject baselines, 1 KiB files
# per second against Temporal's floor, the bridge's events per second against
# bare starts, and the scanning inspection against a bare GET.
bench:
	go test -tags e2e -count=1 -run '^$$' -bench IngestLargeObject -benchtime 3x -timeout 30m ./internal/e2e/
	go test -tags e2e -count=1 -run '^$$' -bench SmallFiles -benchtime 5x -timeout 30m ./internal/e2e/
	go test -tags integration -count=1 -run '^$$' -bench EventsToDurableStarts -benchtime 3x ./internal/bridge/
	go test -tags integration -count=1 -run '^$$' -bench InspectScanning -benchtime 5x ./activities/

# The fault suite at full length (README, "Faults"): 200 files per fault and
# a minute of worker kills. make test runs the same faults shortened.
faults:
	go test -tags e2e -count=1 -run '^TestFault' -v -timeout 90m ./internal/e2e/ -args -faults.full

# The load run at full size (README, "Load"): 2,000 small files through the
# S3 API and 100 over SFTP at once, then a 5.06 GiB object beside 100 small
# files with the worker killed mid-copy. make test runs it with a shorter
# burst; -v prints the figures (lines starting LOAD).
load:
	go test -tags e2e -count=1 -run '^TestLoad' -v -timeout 60m ./internal/e2e/ -args -load-s3-files 2000 -load-sftp-files 100
