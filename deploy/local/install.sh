#!/usr/bin/env bash
# Installs what Ferry's local stack and its tests run, pinned:
#
#   Temporal CLI (dev server + UI), MinIO,  go install, once per version, into
#   goaws (SNS emulator; binary "cmd"),     ~/.cache/ferry/bin/<tool>-<version>/
#   terraform (fmt only: no provider can    (FERRY_CACHE moves it), so every
#   be had), tflint (its bundled terraform  clone on the machine shares them
#   ruleset only),
#   helm, kubeconform (the Helm chart's
#   checks in deploy/helm_test.go),
#   versitygw (a second S3, for the
#   integration tier's FERRY_TEST_S3)
#   dynalite, local-aws-sqs                 npm ci from package-lock.json into
#                                           deploy/local/node_modules (again only
#                                           when the lock file changes)
#   sftp, ssh-keygen, curl, node, gpg       apt-get, only when missing (as root)
#   and gpg-agent
#   Prometheus + promtool, Alertmanager     apt-get, Debian's packages at the
#   + amtool, ClamAV's clamd, Chromium      pinned versions below (as root;
#                                           --no-install-recommends, and no
#                                           service is started: the stack
#                                           runs them itself; Chromium is for
#                                           the evidence report's browser test)
#
# Idempotent and quick when all is there; one run at a time per machine
# (flock), as parallel test binaries and other clones may call it at once.
# Progress goes to stderr. On success stdout holds only the tools' paths,
# one KEY=VALUE a line, for deploy/local/stack.sh and internal/stacktest:
#
#   TEMPORAL_BIN=/root/.cache/ferry/bin/temporal-v1.5.1/temporal
#   MINIO_BIN=...
#   GOAWS_BIN=.../goaws-v0.5.4/cmd
#   TERRAFORM_BIN=.../terraform-v1.8.5/terraform  TFLINT_BIN=.../tflint-v0.64.0/tflint
#   HELM_BIN=.../helm-v3.22.0/helm  KUBECONFORM_BIN=.../kubeconform-v0.8.0/kubeconform
#   VERSITYGW_BIN=.../versitygw-v1.8.0/versitygw
#   NODE_MODULES=.../deploy/local/node_modules
#   PROMETHEUS_BIN=/usr/bin/prometheus  PROMTOOL_BIN=/usr/bin/promtool
#   ALERTMANAGER_BIN=/usr/bin/prometheus-alertmanager  AMTOOL_BIN=/usr/bin/amtool
#   CLAMD=/usr/sbin/clamd
#   CHROMIUM_BIN=/usr/bin/chromium
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${FERRY_CACHE:-$HOME/.cache/ferry}"

# Pinned versions (see ../shared/DESIGN.md for why these).
TEMPORAL_CLI_VERSION=v1.5.1
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
TEMPORAL_BIN="$CACHE/bin/temporal-$TEMPORAL_CLI_VERSION/temporal"
MINIO_BIN="$CACHE/bin/minio-$MINIO_VERSION/minio"
GOAWS_VERSION=v0.5.4
GOAWS_BIN="$CACHE/bin/goaws-$GOAWS_VERSION/cmd" # goaws's main package is app/cmd
# Terraform's checks of deploy/terraform (terraform fmt, tflint). Later
# Terraform releases cannot be go installed (replace directives).
TERRAFORM_VERSION=v1.8.5
TERRAFORM_BIN="$CACHE/bin/terraform-$TERRAFORM_VERSION/terraform"
TFLINT_VERSION=v0.64.0
TFLINT_BIN="$CACHE/bin/tflint-$TFLINT_VERSION/tflint"
# The Helm chart's checks: helm lint / helm template, and kubeconform, which
# validates the rendering against schemas deploy/helm/kubeschema generates.
HELM_VERSION=v3.22.0
HELM_BIN="$CACHE/bin/helm-$HELM_VERSION/helm"
KUBECONFORM_VERSION=v0.8.0
KUBECONFORM_BIN="$CACHE/bin/kubeconform-$KUBECONFORM_VERSION/kubeconform"
# A second S3 implementation: the integration tier runs the S3 tests against
# it too (FERRY_TEST_S3=versitygw), so Ferry is not tied to MinIO, whose
# source was archived upstream.
VERSITYGW_VERSION=v1.8.0
VERSITYGW_BIN="$CACHE/bin/versitygw-$VERSITYGW_VERSION/versitygw"
# Debian bookworm's Prometheus (2.42, with promtool) and Alertmanager (0.25,
# with amtool). Debian's Alertmanager reads its default templates from
# /usr/share/prometheus/alertmanager, so it is installed, not unpacked
# into the cache.
PROMETHEUS_DEB=2.42.0+ds-5+deb12u1
ALERTMANAGER_DEB=0.25.0-1+b4
# Packages from bookworm-security are pinned to their upstream release, not
# to one Debian build: the security archive serves only the newest build of
# a package, so an exact pin breaks as soon as Debian ships a fix (Chromium
# 156.0.8078.79 was replaced by .129 within two weeks, and every fresh
# install failed). The newest build of the pinned release is installed.
# ClamAV's clamd, for the malware scan; the stack gives it its own config
# and signature database (deploy/local/clamav/).
CLAMAV_RELEASE=1.4.6+dfsg-
# Chromium, headless in the e2e tier: the evidence report (ferry report) is
# rendered, read, screenshotted and printed to PDF by it
# (internal/e2e/report_test.go).
CHROMIUM_RELEASE=156.0.8078.

say() { printf '%s\n' "install: $*" >&2; }
die() { say "error: $*"; exit 1; }

# go_tool BIN PACKAGE VERSION: build a pinned Go tool once per version into
# the cache outside the clone, so fresh clones on this machine reuse it.
go_tool() {
	local bin="$1" pkg="$2" version="$3" dir
	dir="$(dirname "$bin")"
	[[ -x "$bin" ]] && return 0
	mkdir -p "$dir" "$CACHE/logs"
	say "building $pkg@$version (first time on this machine: about 5 minutes; log in $CACHE/logs)"
	# GOFLAGS is cleared so a caller's -mod=vendor or the like cannot leak in.
	if ! (cd /tmp && GOFLAGS= GOBIN="$dir.tmp" go install "$pkg@$version") >"$CACHE/logs/$(basename "$bin")-$version.log" 2>&1; then
		tail -20 "$CACHE/logs/$(basename "$bin")-$version.log" >&2
		die "building $pkg@$version failed (full log: $CACHE/logs/$(basename "$bin")-$version.log)"
	fi
	mv "$dir.tmp/$(basename "$bin")" "$bin" && rmdir "$dir.tmp"
}

mkdir -p "$CACHE"
exec 8>"$CACHE/install.lock"
flock 8

missing=()
command -v sftp >/dev/null || missing+=(openssh-client)
command -v ssh-keygen >/dev/null || missing+=(openssh-client)
command -v curl >/dev/null || missing+=(curl)
command -v gpg >/dev/null || missing+=(gpg) # the PGP tests encrypt as partners do, with GnuPG
# gpg only Recommends its agent, which --no-install-recommends leaves out;
# without it gpg cannot make, sign with or export a secret key.
command -v gpg-agent >/dev/null || missing+=(gpg-agent)
command -v node >/dev/null || missing+=(nodejs npm)
deb_version() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || true; }
[[ "$(deb_version prometheus)" == "$PROMETHEUS_DEB" ]] || missing+=("prometheus=$PROMETHEUS_DEB")
[[ "$(deb_version prometheus-alertmanager)" == "$ALERTMANAGER_DEB" ]] || missing+=("prometheus-alertmanager=$ALERTMANAGER_DEB")
# Pinned by release (see above): PACKAGE RELEASE-PREFIX, then the packages
# that must come at the same version (clamav-daemon needs clamav-freshclam,
# Debian's only clamav-data, and clamav-base at its own version;
# chromium-common and chromium-driver come at chromium's).
by_release=()
[[ "$(deb_version clamav-daemon)" == "$CLAMAV_RELEASE"* ]] ||
	by_release+=("clamav-daemon $CLAMAV_RELEASE clamav-freshclam clamav-base libclamav12")
[[ "$(deb_version chromium)" == "$CHROMIUM_RELEASE"* ]] ||
	by_release+=("chromium $CHROMIUM_RELEASE chromium-common chromium-driver")

# newest_build PACKAGE PREFIX: the newest version apt can install whose
# version starts with PREFIX.
newest_build() {
	local best="" v
	for v in $(apt-cache madison "$1" | awk -v p="$2" '{ if (index($3, p) == 1) print $3 }'); do
		if [[ -z $best ]] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
	done
	[[ -n $best ]] || die "no build of $1 $2* in apt's sources (apt-cache madison $1 lists what there is): a new Debian release line? raise the pin in deploy/local/install.sh"
	printf '%s' "$best"
}

if ((${#missing[@]} + ${#by_release[@]})); then
	[[ $(id -u) == 0 ]] || die "missing ${missing[*]} ${by_release[*]}: install them with sudo apt-get install (see deploy/local/install.sh for the versions)"
	apt-get update -qq >/dev/null
	for entry in "${by_release[@]}"; do
		read -r pkg prefix rest <<<"$entry"
		version="$(newest_build "$pkg" "$prefix")"
		for p in "$pkg" $rest; do missing+=("$p=$version"); done
	done
	say "installing Debian packages: ${missing[*]}"
	# freshclam as a daemon (Debian's default) starts in the background;
	# "manual" or "cron" would run it once inside the install, which waits
	# on an internet that is not there. It is stopped below.
	echo 'clamav-freshclam clamav-freshclam/autoupdate_freshclam select daemon' | debconf-set-selections
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends --allow-downgrades "${missing[@]}" >/dev/null
	# Where policy-rc.d does not forbid it, installing starts Debian's own
	# services on the default ports (clamd only once it has a database); the
	# stack runs its own. freshclam cannot reach the internet here and is
	# kept from starting again at boot.
	for svc in prometheus prometheus-alertmanager clamav-freshclam clamav-daemon; do
		invoke-rc.d "$svc" stop >/dev/null 2>&1 || true
	done
	update-rc.d -f clamav-freshclam disable >/dev/null 2>&1 || true
	if [[ -d /run/systemd/system ]]; then systemctl disable --now clamav-freshclam.service clamav-daemon.socket >/dev/null 2>&1 || true; fi
fi

# The slow builds run side by side.
pids=()
[[ -x "$TEMPORAL_BIN" ]] || { go_tool "$TEMPORAL_BIN" github.com/temporalio/cli/cmd/temporal "$TEMPORAL_CLI_VERSION" & pids+=($!); }
[[ -x "$MINIO_BIN" ]] || { go_tool "$MINIO_BIN" github.com/minio/minio "$MINIO_VERSION" & pids+=($!); }
[[ -x "$GOAWS_BIN" ]] || { go_tool "$GOAWS_BIN" github.com/Admiral-Piett/goaws/app/cmd "$GOAWS_VERSION" & pids+=($!); }
[[ -x "$TERRAFORM_BIN" ]] || { go_tool "$TERRAFORM_BIN" github.com/hashicorp/terraform "$TERRAFORM_VERSION" & pids+=($!); }
[[ -x "$TFLINT_BIN" ]] || { go_tool "$TFLINT_BIN" github.com/terraform-linters/tflint "$TFLINT_VERSION" & pids+=($!); }
[[ -x "$HELM_BIN" ]] || { go_tool "$HELM_BIN" helm.sh/helm/v3/cmd/helm "$HELM_VERSION" & pids+=($!); }
[[ -x "$KUBECONFORM_BIN" ]] || { go_tool "$KUBECONFORM_BIN" github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION" & pids+=($!); }
[[ -x "$VERSITYGW_BIN" ]] || { go_tool "$VERSITYGW_BIN" github.com/versity/versitygw/cmd/versitygw "$VERSITYGW_VERSION" & pids+=($!); }
for p in "${pids[@]}"; do wait "$p" || die "a tool build failed (see above)"; done

# npm ci from the committed lock file; redone only when the lock changes.
stamp="$HERE/node_modules/.ferry-lock.sha256"
want="$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
	say "installing dynalite and local-aws-sqs (npm ci)"
	(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	echo "$want" >"$stamp"
fi

printf 'TEMPORAL_BIN=%s\nMINIO_BIN=%s\nGOAWS_BIN=%s\nNODE_MODULES=%s\n' "$TEMPORAL_BIN" "$MINIO_BIN" "$GOAWS_BIN" "$HERE/node_modules"
printf 'TERRAFORM_BIN=%s\nTFLINT_BIN=%s\n' "$TERRAFORM_BIN" "$TFLINT_BIN"
printf 'HELM_BIN=%s\nKUBECONFORM_BIN=%s\n' "$HELM_BIN" "$KUBECONFORM_BIN"
printf 'VERSITYGW_BIN=%s\n' "$VERSITYGW_BIN"
printf 'PROMETHEUS_BIN=%s\nPROMTOOL_BIN=%s\nALERTMANAGER_BIN=%s\nAMTOOL_BIN=%s\n' \
	/usr/bin/prometheus /usr/bin/promtool /usr/bin/prometheus-alertmanager /usr/bin/amtool
printf 'CLAMD=%s\n' /usr/sbin/clamd
printf 'CHROMIUM_BIN=%s\n' /usr/bin/chromium
