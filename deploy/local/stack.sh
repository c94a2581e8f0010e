#!/usr/bin/env bash
# Ferry's local stack: real servers started as processes (no Docker).
#
#   stack.sh up        install what is missing (deploy/local/install.sh), start
#                      what is not running, provision, print a summary
#   stack.sh down      stop what this stack started (by the PIDs in .ferry/run)
#   stack.sh status    show each process and whether it runs (exit status 0 when all do)
#   stack.sh pid NAME  print the PID of one process (for internal/stacktest)
#   stack.sh logs      follow every log
#   stack.sh stop-one NAME    stop one process (e.g. clamd, to see files wait for it)
#   stack.sh start-one clamd  start clamd again and wait until it answers
#
# Runtime data (databases, MinIO data, logs, pid files, generated secrets)
# lives in .ferry/ at the repository root, which git ignores. Set FERRY_HOME
# to put it elsewhere.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/deploy/local"
FERRY_HOME="${FERRY_HOME:-$ROOT/.ferry}"

# Ports must agree with deploy/local/ferry.yaml.
TEMPORAL_ADDR=127.0.0.1:7233
TEMPORAL_UI_PORT=8233
S3_ADDR=127.0.0.1:9000
MINIO_CONSOLE_ADDR=127.0.0.1:9001
SFTP_ADDR=127.0.0.1:2022
DYNAMODB_PORT=4567
SQS_PORT=9324
SNS_PORT=4100 # goaws: binds 0.0.0.0 whatever we ask (hard-coded upstream)
BRIDGE_ADDR=127.0.0.1:8085
WORKER_METRICS_ADDR=127.0.0.1:9464 # metrics.worker_listen
BRIDGE_METRICS_ADDR=127.0.0.1:9465 # metrics.bridge_listen
SINK_ADDR=127.0.0.1:8086
PROMETHEUS_ADDR=127.0.0.1:9090     # deploy/prometheus/prometheus.yml scrapes the two above
ALERTMANAGER_ADDR=127.0.0.1:9093   # deploy/alertmanager/alertmanager.yml sends to the sink
CLAMD_ADDR=127.0.0.1:3310          # ClamAV's clamd (scanner.clamd: tcp://127.0.0.1:3310)
# clamd's StreamMaxLength, MaxFileSize and MaxScanSize (deploy/local/clamav/clamd.conf.in):
# Ferry's scanner.max_stream_bytes must not exceed it.
CLAMD_MAX_SIZE=100M

# The stack's processes in start order; they stop in reverse.
PROCS=(temporal dynalite sqs sns minio clamd webhooksink alertmanager prometheus bridge worker)

DATA="$FERRY_HOME/data"
LOGS="$FERRY_HOME/logs"
PIDS="$FERRY_HOME/run"
SECRETS="$FERRY_HOME/secrets"
SFTP_KEYS="$SECRETS/sftp" # the SFTP user CA and each partner's certified key (deploy/local/provision/sftpkeys.go)
BIN="$FERRY_HOME/bin"
ENV_FILE="$FERRY_HOME/stack.env"

say() { printf '%s\n' "stack: $*" >&2; }
die() { say "error: $*"; exit 1; }

# --- tools -----------------------------------------------------------------

# tools: install what is missing (deploy/local/install.sh: pinned, cached,
# serialized) and take the paths it reports: TEMPORAL_BIN, MINIO_BIN,
# GOAWS_BIN, NODE_MODULES, PROMETHEUS_BIN, PROMTOOL_BIN, ALERTMANAGER_BIN,
# AMTOOL_BIN, CLAMD.
tools() {
	local out k v
	out="$("$HERE/install.sh")" || die "installing the stack's tools failed (see above)"
	while IFS='=' read -r k v; do
		case "$k" in TEMPORAL_BIN | MINIO_BIN | GOAWS_BIN | NODE_MODULES | PROMETHEUS_BIN | PROMTOOL_BIN | ALERTMANAGER_BIN | AMTOOL_BIN | CLAMD) printf -v "$k" '%s' "$v" ;; esac
	done <<<"$out"
}

# build_ferry: Ferry's own binaries, from this clone (Go's build cache makes
# this quick). Called under the stack lock: two test binaries running
# `up` at once must not write the same files.
build_ferry() {
	mkdir -p "$BIN"
	(cd "$ROOT" && go build -o "$BIN/" ./worker ./starter/ferry ./deploy/local/provision ./deploy/local/webhooksink)
}

# --- processes -------------------------------------------------------------

starttime() { # PID -> the kernel's start time of the process (clock ticks since boot)
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20
}

alive() { # PID [STARTTIME] -> whether it runs (and started then, if given)
	local stat
	stat="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null)" || return 1
	# A killed process stays a zombie until its reaper (here PID 1, which
	# may take seconds) collects it: it does not run, whatever /proc says.
	[[ -n "$stat" && "${stat:0:1}" != Z && "${stat:0:1}" != X ]] || return 1
	[[ -z "${2:-}" || "$(cut -d' ' -f20 <<<"$stat")" == "$2" ]]
}

pid_of() { # NAME -> prints the PID if the process this stack started is alive
	local f="$PIDS/$1.pid" pid started
	[[ -f "$f" ]] || return 1
	read -r pid started <"$f"
	# Guard against PID reuse: the start time recorded with the PID must match.
	[[ -n "$pid" ]] && alive "$pid" "$started" && echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

start() { # NAME ADDR COMMAND... : start unless running; refuse a port someone else holds
	local name="$1" addr="$2"
	shift 2
	if pid_of "$name" >/dev/null; then return 0; fi
	if [[ -n "$addr" ]] && port_open "$addr"; then
		die "$addr is in use by a process this stack did not start (not in $PIDS): stop it, or stop the other Ferry stack with its own 'make stop'"
	fi
	say "starting $name"
	# setsid: each process gets its own session, so stopping it stops its children too.
	# 8>&- 9>&-: the daemon must not inherit (and so hold forever) the script's locks.
	setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 8>&- 9>&- &
	local pid=$!
	echo "$pid $(starttime "$pid")" >"$PIDS/$name.pid"
	if [[ -f "$1" ]]; then fingerprint "$1" >"$PIDS/$name.sha256"; fi
}

stop() { # NAME
	local name="$1" pid
	if pid="$(pid_of "$name")"; then
		say "stopping $name (pid $pid)"
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
		if alive "$pid"; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; fi
	fi
	rm -f "$PIDS/$name.pid" "$PIDS/$name.sha256"
}

# fingerprint BIN: what a running Ferry process was started from, its
# binary and the config it read.
fingerprint() { cat "$1" "$HERE/ferry.yaml" | sha256sum | cut -d' ' -f1; }

# restart_if_rebuilt NAME: Ferry's own processes run this clone's code and
# config, so a rebuilt binary or a changed ferry.yaml replaces the running
# process (tests must test current code).
restart_if_rebuilt() { # NAME [BINARY]: the binary is $BIN/NAME unless given
	local name="$1" bin="${2:-$BIN/$1}"
	if pid_of "$name" >/dev/null && [[ "$(fingerprint "$bin")" != "$(cat "$PIDS/$name.sha256" 2>/dev/null)" ]]; then
		say "$name was rebuilt or its config changed; restarting it"
		stop "$name"
	fi
}

wait_for() { # WHAT SECONDS COMMAND...
	local what="$1" secs="$2"
	shift 2
	for _ in $(seq 1 $((secs * 5))); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	die "$what did not come up within ${secs}s; see $LOGS/"
}

# wait_ready NAME ADDR: Ferry's process NAME answers 200 on /readyz at ADDR
# (its metrics address): Temporal and its AWS resources answer. It fails at
# once, with the log's tail, when the process exits instead.
wait_ready() {
	local name="$1" addr="$2"
	for _ in $(seq 1 150); do
		pid_of "$name" >/dev/null || { tail -5 "$LOGS/$name.log" >&2; die "the $name exited; see $LOGS/$name.log"; }
		if curl -sf "http://$addr/readyz" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	curl -s "http://$addr/readyz" >&2 || true
	die "the $name is not ready within 30s (above: what its /readyz says); see $LOGS/$name.log"
}

# check_monitoring: Prometheus's and Alertmanager's configs (and the alert
# rules) are checked before either starts or reloads, so a broken file is
# reported here, not left in a log while the old config keeps running.
check_monitoring() {
	"$PROMTOOL_BIN" check config "$ROOT/deploy/prometheus/prometheus.yml" >"$LOGS/promtool.log" 2>&1 ||
		{ cat "$LOGS/promtool.log" >&2; die "deploy/prometheus/prometheus.yml or its rules are invalid (above)"; }
	"$AMTOOL_BIN" check-config "$ROOT/deploy/alertmanager/alertmanager.yml" >"$LOGS/amtool.log" 2>&1 ||
		{ cat "$LOGS/amtool.log" >&2; die "deploy/alertmanager/alertmanager.yml is invalid (above)"; }
}

# clamd_ping ADDR: clamd answers PING with PONG (its protocol: a
# NUL-terminated command, a NUL-terminated reply). In a subshell, so the
# connection's descriptor closes with it.
clamd_ping() (
	local reply
	exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
	printf 'zPING\0' >&3
	IFS= read -r -d '' -t 5 reply <&3 || exit 1
	[[ "$reply" == PONG ]]
)

# start_clamd: ClamAV's clamd on CLAMD_ADDR with deploy/local/clamav's
# config and signature database (EICAR only: freshclam cannot reach the
# internet here). A clamd started with another config or database is
# restarted.
start_clamd() {
	local dir="$DATA/clamd" conf fp
	conf="$dir/clamd.conf"
	mkdir -p "$dir/tmp"
	sed -e "s|@DB@|$HERE/clamav/db|g" -e "s|@DIR@|$dir|g" -e "s|@ADDR@|${CLAMD_ADDR%:*}|g" \
		-e "s|@PORT@|${CLAMD_ADDR##*:}|g" -e "s|@MAX@|$CLAMD_MAX_SIZE|g" "$HERE/clamav/clamd.conf.in" >"$conf.new"
	mv "$conf.new" "$conf"
	fp="$(cat "$conf" "$HERE"/clamav/db/* | sha256sum | cut -d' ' -f1)"
	if pid_of clamd >/dev/null && [[ "$(cat "$PIDS/clamd.conf.sha256" 2>/dev/null)" != "$fp" ]]; then
		say "clamd's config or signatures changed; restarting it"
		stop clamd
	fi
	start clamd "$CLAMD_ADDR" "$CLAMD" --config-file="$conf"
	echo "$fp" >"$PIDS/clamd.conf.sha256"
}

# wait_clamd: clamd answers PING; it fails at once, with the log's tail,
# when clamd exits instead (a bad config, a broken database).
wait_clamd() {
	for _ in $(seq 1 300); do
		pid_of clamd >/dev/null || { tail -5 "$LOGS/clamd.log" >&2; die "clamd exited; see $LOGS/clamd.log"; }
		if clamd_ping "$CLAMD_ADDR" 2>/dev/null; then return 0; fi
		sleep 0.2
	done
	die "clamd does not answer PING on $CLAMD_ADDR within 60s; see $LOGS/clamd.log"
}

# start_one NAME: start one process of the stack again (only clamd: the
# others come back with up).
start_one() {
	[[ "$1" == clamd ]] || die "start-one starts clamd only; start $1 with: stack.sh up"
	tools
	mkdir -p "$DATA" "$LOGS" "$PIDS"
	exec 9>"$FERRY_HOME/stack.lock"
	flock 9
	start_clamd
	wait_clamd
}

reload() { # NAME: a running Prometheus or Alertmanager rereads its (checked) config
	local pid
	if pid="$(pid_of "$1")"; then kill -HUP "$pid"; fi
}

secret() { # NAME COMMAND... : generate once, then reuse
	local f="$SECRETS/$1"
	shift
	[[ -s "$f" ]] || { "$@" >"$f"; chmod 600 "$f"; }
	cat "$f"
}

write_env() {
	cat >"$ENV_FILE" <<EOF
# Generated by deploy/local/stack.sh: the local stack's endpoints and
# credentials. Use it with: source .ferry/stack.env
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=ferryadmin
export AWS_SECRET_ACCESS_KEY=$(cat "$SECRETS/minio_root_password")
export AWS_ENDPOINT_URL_S3=http://$S3_ADDR
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$DYNAMODB_PORT
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$SQS_PORT
export AWS_ENDPOINT_URL_SNS=http://127.0.0.1:$SNS_PORT
export FERRY_WEBHOOK_SECRET=$(cat "$SECRETS/webhook_secret")
export FERRY_CONFIG=$HERE/ferry.yaml
export FERRY_BRIDGE_AUTH_TOKEN=$(cat "$SECRETS/bridge_token")
export FERRY_AUDIT_ANCHOR_KEY=$(cat "$SECRETS/audit_anchor_key")
export FERRY_SFTP_ADDRESS=$SFTP_ADDR
export FERRY_TEMPORAL_UI=http://127.0.0.1:$TEMPORAL_UI_PORT
export FERRY_NOTIFICATIONS_FILE=$DATA/notifications.jsonl
export FERRY_ALERTS_FILE=$DATA/alerts.jsonl
export FERRY_PROMETHEUS_URL=http://$PROMETHEUS_ADDR
export FERRY_ALERTMANAGER_URL=http://$ALERTMANAGER_ADDR
export FERRY_SCANNER_CLAMD=tcp://$CLAMD_ADDR
export FERRY_SECRETS_DIR=$SECRETS
export FERRY_SFTP_KEYS_DIR=$SFTP_KEYS
export FERRY_BIN=$BIN
export TEMPORAL_ADDRESS=$TEMPORAL_ADDR
export PATH=$(dirname "$TEMPORAL_BIN"):$BIN:\$PATH
EOF
}

up() {
	tools
	mkdir -p "$DATA" "$LOGS" "$PIDS" "$SECRETS"
	exec 9>"$FERRY_HOME/stack.lock"
	flock 9
	build_ferry

	secret minio_root_password sh -c "head -c 18 /dev/urandom | base64 | tr -d '/+='" >/dev/null
	secret bridge_token sh -c "head -c 24 /dev/urandom | base64 | tr -d '/+='" >/dev/null
	# Signs the audit anchors (audit.anchor.key); kept apart from DynamoDB.
	secret audit_anchor_key sh -c "head -c 32 /dev/urandom | base64 | tr -d '/+='" >/dev/null
	# MinIO's built-in KMS, so server-side encryption on the local stack is real.
	secret webhook_secret sh -c "head -c 24 /dev/urandom | base64 | tr -d '/+='" >/dev/null
	secret minio_kms_key sh -c 'echo "ferry-local:$(head -c 32 /dev/urandom | base64)"' >/dev/null
	[[ -f "$SECRETS/sftp_host_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -C ferry-local-sftp -f "$SECRETS/sftp_host_ed25519"
	# Partners used to log in with passwords kept here; they log in with
	# certified keys now (below), and those passwords open nothing.
	rm -rf "$SECRETS/partners"
	write_env
	# shellcheck disable=SC1090
	source "$ENV_FILE"
	# The SFTP user CA and each configured partner's key, certified for that
	# partner's name (a partner added to ferry.yaml gets one here; one near
	# its end is renewed). Before MinIO starts: MinIO is given the CA.
	sftp_keys >/dev/null

	# SQLite in WAL mode, synced at checkpoints (as the Temporal CLI's own
	# tests run it): the default rollback journal made every commit write
	# and sync the database twice, on the server's one SQLite connection
	# (BenchmarkSmallFiles: 14-17 files/s with it, 18-21 in WAL mode).
	# A killed server loses nothing committed; only a power cut may lose
	# the last commits.
	start temporal "$TEMPORAL_ADDR" "$TEMPORAL_BIN" server start-dev \
		--ip 127.0.0.1 --port "${TEMPORAL_ADDR##*:}" --ui-port "$TEMPORAL_UI_PORT" \
		--db-filename "$DATA/temporal.db" --namespace default --log-level warn \
		--sqlite-pragma journal_mode=WAL --sqlite-pragma synchronous=NORMAL \
		--search-attribute Partner=Keyword --search-attribute FileStatus=Keyword --search-attribute ObjectKey=Keyword

	start dynalite "127.0.0.1:$DYNAMODB_PORT" node "$NODE_MODULES/dynalite/cli.js" \
		--host 127.0.0.1 --port "$DYNAMODB_PORT" --path "$DATA/dynalite" --createTableMs 50

	# In memory: queues are created again by the provisioner below.
	start sqs "127.0.0.1:$SQS_PORT" node "$HERE/sqs/server.js" --port "$SQS_PORT"

	# goaws (SNS and its own SQS queues), in memory: the provisioner creates
	# the topic and its subscription again. It needs a config file, or it
	# searches its working directory for one.
	printf 'Local:\n  Host: 127.0.0.1\n  Port: %s\n  Region: us-east-1\n  AccountId: "100010001000"\n' "$SNS_PORT" >"$DATA/goaws.yaml"
	start sns "127.0.0.1:$SNS_PORT" "$GOAWS_BIN" -config "$DATA/goaws.yaml" -loglevel warn

	mkdir -p "$DATA/minio" "$DATA/minio-events"
	# MinIO's SFTP stands in for Transfer Family: partners log in with an SSH
	# key certified by the stack's user CA for their name, never a password.
	# A MinIO started with other settings (a stack from before key logins)
	# or another CA is restarted, or logins would fail with keys that are right.
	local sftp_settings sftp_fingerprint
	sftp_settings=(--sftp="address=$SFTP_ADDR" --sftp="ssh-private-key=$SECRETS/sftp_host_ed25519"
		--sftp="trusted-user-ca-key=$SFTP_KEYS/user_ca.pub" --sftp="disable-password-auth=true")
	sftp_fingerprint="$(printf '%s\n' "${sftp_settings[@]}" | cat - "$SFTP_KEYS/user_ca.pub" | sha256sum | cut -d' ' -f1)"
	if pid_of minio >/dev/null && [[ "$(cat "$PIDS/minio.sftp" 2>/dev/null)" != "$sftp_fingerprint" ]]; then
		say "MinIO's SFTP settings or user CA changed; restarting it"
		stop minio
	fi
	# MinIO moves what is deleted to .minio.sys/tmp/.trash and frees it
	# 5 minutes after it starts, then every 5 minutes by default: here
	# every 10 s, as the load test writes and deletes 10 GB. down empties
	# what is left, which a stack stopped sooner would otherwise keep.
	start minio "$S3_ADDR" env \
		MINIO_API_DELETE_CLEANUP_INTERVAL=10s \
		MINIO_ROOT_USER=ferryadmin MINIO_ROOT_PASSWORD="$(cat "$SECRETS/minio_root_password")" \
		MINIO_KMS_SECRET_KEY="$(cat "$SECRETS/minio_kms_key")" \
		MINIO_NOTIFY_WEBHOOK_ENABLE_FERRY=on \
		MINIO_NOTIFY_WEBHOOK_ENDPOINT_FERRY="http://$BRIDGE_ADDR/v1/s3-events" \
		MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_FERRY="$(cat "$SECRETS/bridge_token")" \
		MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_FERRY="$DATA/minio-events" \
		MINIO_UPDATE=off \
		"$MINIO_BIN" server "$DATA/minio" --quiet --address "$S3_ADDR" --console-address "$MINIO_CONSOLE_ADDR" \
		"${sftp_settings[@]}"
	echo "$sftp_fingerprint" >"$PIDS/minio.sftp"
	start_clamd

	wait_for "DynamoDB (dynalite)" 30 port_open "127.0.0.1:$DYNAMODB_PORT"
	wait_for "SQS (local-aws-sqs)" 30 port_open "127.0.0.1:$SQS_PORT"
	wait_for "SNS (goaws)" 30 port_open "127.0.0.1:$SNS_PORT"
	wait_for "MinIO" 60 curl -sf "http://$S3_ADDR/minio/health/live"
	wait_for "MinIO SFTP" 30 port_open "$SFTP_ADDR"
	wait_clamd
	wait_for "Temporal" 90 "$TEMPORAL_BIN" operator search-attribute list --address "$TEMPORAL_ADDR" --namespace default
	wait_for "Temporal search attributes" 30 sh -c "'$TEMPORAL_BIN' operator search-attribute list --address '$TEMPORAL_ADDR' | grep -q FileStatus"

	"$BIN/provision" --config "$FERRY_CONFIG" --secrets-dir "$SECRETS" --sftp-keys-dir "$SFTP_KEYS" >>"$LOGS/provision.log" 2>&1 ||
		{ tail -5 "$LOGS/provision.log" >&2; die "provisioning failed; see $LOGS/provision.log"; }

	restart_if_rebuilt webhooksink
	restart_if_rebuilt bridge "$BIN/ferry"
	restart_if_rebuilt worker
	# The sink and the worker read the webhook's secret from FERRY_WEBHOOK_SECRET (stack.env).
	start webhooksink "$SINK_ADDR" "$BIN/webhooksink" --listen "$SINK_ADDR" --out "$DATA/notifications.jsonl" --secret-env FERRY_WEBHOOK_SECRET \
		--alerts-out "$DATA/alerts.jsonl"
	# Alertmanager alone (no cluster gossip port) and Prometheus, with the
	# configs under deploy/. One already running rereads them (SIGHUP), so
	# changed rules take effect without losing the series it holds.
	check_monitoring
	reload alertmanager
	reload prometheus
	mkdir -p "$DATA/alertmanager" "$DATA/prometheus"
	start alertmanager "$ALERTMANAGER_ADDR" "$ALERTMANAGER_BIN" \
		--config.file="$ROOT/deploy/alertmanager/alertmanager.yml" --storage.path="$DATA/alertmanager" \
		--web.listen-address="$ALERTMANAGER_ADDR" --cluster.listen-address= --log.level=warn
	start prometheus "$PROMETHEUS_ADDR" "$PROMETHEUS_BIN" \
		--config.file="$ROOT/deploy/prometheus/prometheus.yml" --storage.tsdb.path="$DATA/prometheus" \
		--storage.tsdb.retention.time=7d --web.listen-address="$PROMETHEUS_ADDR" --log.level=warn
	start bridge "$BRIDGE_ADDR" "$BIN/ferry" bridge --config "$FERRY_CONFIG"
	start worker "" "$BIN/worker" --config "$FERRY_CONFIG"
	wait_for "webhook sink" 20 port_open "$SINK_ADDR"
	wait_for "Alertmanager" 30 curl -sf "http://$ALERTMANAGER_ADDR/-/ready"
	wait_for "Prometheus" 60 curl -sf "http://$PROMETHEUS_ADDR/-/ready"
	wait_ready bridge "$BRIDGE_METRICS_ADDR"
	wait_ready worker "$WORKER_METRICS_ADDR"
	exec 9>&-
	summary
}

# sftp_keys: make what is missing of the SFTP user CA and the configured
# partners' certified keys, and print "<partner> <private key>" per partner.
sftp_keys() {
	"$BIN/provision" --config "$FERRY_CONFIG" --sftp-keys-dir "$SFTP_KEYS" --sftp-keys-only 2>>"$LOGS/provision.log" ||
		{ tail -5 "$LOGS/provision.log" >&2; die "making the partners' SFTP keys failed; see $LOGS/provision.log"; }
}

summary() {
	# shellcheck disable=SC1090
	source "$ENV_FILE"
	cat <<EOF

Ferry's local stack is running (runtime data in ${FERRY_HOME#"$ROOT"/}/).

  Temporal UI    $FERRY_TEMPORAL_UI/namespaces/default/workflows
  Temporal       $TEMPORAL_ADDR   (CLI: $(command -v temporal))
  S3 (MinIO)     $AWS_ENDPOINT_URL_S3   user ferryadmin, password in ${SECRETS#"$ROOT"/}/minio_root_password
  DynamoDB       $AWS_ENDPOINT_URL_DYNAMODB (dynalite)
  SQS            $AWS_ENDPOINT_URL_SQS (local-aws-sqs; the bridge consumes queue ferry-events)
  SNS            $AWS_ENDPOINT_URL_SNS (goaws, listening on all interfaces; topic ferry-notifications -> goaws queue ferry-notifications)
  Bridge         http://$BRIDGE_ADDR/v1/s3-events
  ClamAV clamd   $FERRY_SCANNER_CLAMD   (signatures: deploy/local/clamav/db, the EICAR test string only; streams up to $CLAMD_MAX_SIZE)
  Metrics        http://$WORKER_METRICS_ADDR/metrics (worker)   http://$BRIDGE_METRICS_ADDR/metrics (bridge)
  Prometheus     $FERRY_PROMETHEUS_URL/classic/targets   (scrapes both; alert rules: $FERRY_PROMETHEUS_URL/classic/alerts)
  Alertmanager   $FERRY_ALERTMANAGER_URL/api/v2/alerts   (sends alerts to the sink: ${FERRY_ALERTS_FILE#"$ROOT"/})
  Dashboard      deploy/grafana/ferry-dashboard.json   (import into Grafana with this Prometheus as data source; README "Watching Ferry")
  Notifications  ${FERRY_NOTIFICATIONS_FILE#"$ROOT"/}   (what the webhook received)
  Logs           ${LOGS#"$ROOT"/}/*.log   (make logs)

SFTP ($SFTP_ADDR), one login per partner with its certified key (no passwords); each may write only below /landing/<partner>/:
EOF
	local logins p key
	logins="$(sftp_keys)"
	while read -r p key; do
		printf '  %-8s sftp -i %s -P %s %s@%s   then: put FILE /landing/%s/inbound/\n' \
			"$p" "${key#"$ROOT"/}" "${SFTP_ADDR##*:}" "$p" "${SFTP_ADDR%:*}" "$p"
	done <<<"$logins"
	cat <<EOF

Shell with the stack's endpoints and the temporal CLI on PATH:  source ${ENV_FILE#"$ROOT"/}
Stop everything:  make stop
EOF
}

down() {
	[[ -d "$PIDS" ]] || { say "nothing to stop"; return 0; }
	# Ferry's processes first, so nothing talks to a server that is going away.
	local i
	for ((i = ${#PROCS[@]} - 1; i >= 0; i--)); do stop "${PROCS[i]}"; done
	# Objects MinIO deleted but had not freed yet. Nothing in it is kept:
	# MinIO itself moves its whole tmp folder there when it starts.
	pid_of minio >/dev/null || rm -rf "$DATA/minio/.minio.sys/tmp/.trash"
}

status() { # exit status 0 when every process runs, 3 (as LSB's status) otherwise
	local rc=0 p pid
	for p in "${PROCS[@]}"; do
		if pid="$(pid_of "$p")"; then printf '%-12s running (pid %s)\n' "$p" "$pid"; else printf '%-12s stopped\n' "$p"; rc=3; fi
	done
	return "$rc"
}

cmd="${1:-up}"
shift || true
case "$cmd" in
up) up ;;
down | stop) down ;;
status) status ;;
pid) pid_of "${1:?usage: stack.sh pid NAME (one of ${PROCS[*]})}" || die "$1 is not running" ;;
stop-one)
	[[ " ${PROCS[*]} " == *" ${1:?usage: stack.sh stop-one NAME (one of ${PROCS[*]})} "* ]] || die "no process $1 (one of ${PROCS[*]})"
	stop "$1"
	;;
start-one) start_one "${1:?usage: stack.sh start-one clamd}" ;;
summary) summary ;;
logs) tail -n 20 -F "$LOGS"/*.log ;;
*) die "unknown command $cmd (up, down, status, pid, stop-one, start-one, logs)" ;;
esac
