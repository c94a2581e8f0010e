# The two commands a newcomer needs (see README.md):
#   make run    install what is missing, start Ferry end to end on the local stack
#   make test   every check and every test tier (deploy/local/test.sh); go test ./... is the fast tier
.PHONY: run test stop status logs install bench

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

# Measure a 1 GiB ingest against bare GET / SHA-256 / CopyObject baselines.
bench:
	@deploy/local/stack.sh bench
