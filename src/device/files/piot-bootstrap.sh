#!/bin/bash
# PioT's bootstrap, run once by piot-bootstrap.service after the network is online:
# installs Node.js, git and the SSH client (private repositories), fetches the app
# repository and starts the agent.
# Every step is safe to repeat, so a run cut short (power cut, no network) is
# simply run again at the next boot; /var/lib/piot/bootstrapped, written last,
# ends it for good. Read its log with: journalctl -u piot-bootstrap
set -eu -o pipefail

DEVICE_FILE=${PIOT_DEVICE_FILE:-/etc/piot/device.yaml}
MARKER=${PIOT_BOOTSTRAP_MARKER:-/var/lib/piot/bootstrapped}
PIOT=${PIOT_COMMAND:-/usr/local/bin/piot}
NODE=${PIOT_NODE:-/usr/bin/node}
# Waits between tries: 5 s, doubled after each failure, at most 5 min; tries forever.
RETRY_FIRST=${PIOT_RETRY_FIRST:-5}
RETRY_MAX=${PIOT_RETRY_MAX:-300}
PACKAGES=(nodejs git ca-certificates openssh-client)
STEPS=5

export DEBIAN_FRONTEND=noninteractive
# Keep the existing configuration files on upgrade; wait for apt's lock (apt-daily).
APT=(apt-get -q -y -o DPkg::Lock::Timeout=300
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

# Package descriptions in other languages are of no use here; skipping them saves a slow
# Pi parsing them. --error-on=any: a source that cannot be read is a failure to retry.
APT_UPDATE=(apt-get -q -o Acquire::Languages=none update --error-on=any)

log() { echo "piot-bootstrap: $*"; }

step() { log "step $1/$STEPS $2"; }

# Why a command failed, from its output: its errors, else its warnings, else its last line.
reason() {
  local why
  why=$(grep -E '^(E:|fatal:|error:)' "$1" | tail -n 2 | paste -sd '|' | sed 's/|/; /g') || true
  [ -n "$why" ] || why=$(grep -E '^(W:|Err:)' "$1" | tail -n 2 | paste -sd '|' | sed 's/|/; /g') || true
  [ -n "$why" ] || why=$(tail -n 1 "$1")
  echo "${why:-no output}"
}

# retry WHAT COMMAND...: runs COMMAND until it succeeds, waiting longer after each failure.
retry() {
  local what=$1 wait=$RETRY_FIRST attempt=1 out rc
  shift
  out=$(mktemp)
  for (( ; ; attempt++)); do
    rc=0
    "$@" >"$out" 2>&1 || rc=$?
    cat "$out"
    if [ "$rc" -eq 0 ]; then
      rm -f "$out"
      return 0
    fi
    log "$what failed (attempt $attempt, exit $rc): $(reason "$out"); retrying in ${wait}s"
    sleep "$wait"
    wait=$((wait * 2 > RETRY_MAX ? RETRY_MAX : wait * 2))
  done
}

installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

install_missing() {
  "${APT[@]}" install --no-install-recommends "${missing[@]}" && return 0
  # A failed download can mean stale package lists: refresh them before the next try.
  "${APT_UPDATE[@]}" >/dev/null 2>&1 || true
  return 1
}

# A power cut during an earlier run can leave dpkg half done; finish its work first. A cut
# while a package was unpacked leaves it half installed (reinstall required): only unpacking
# it again mends that, and dpkg --configure -a fails until then.
dpkg_recover() {
  local rc=0 broken
  dpkg --configure -a || rc=$?
  [ "$rc" -ne 0 ] || return 0
  broken=$(dpkg-query -W -f='${db:Status-Abbrev} ${binary:Package}\n' | awk '$1 ~ /^.H|R/ { print $2 }')
  [ -n "$broken" ] || return "$rc"
  log "reinstalling what a power cut left half installed: $(echo $broken)"
  # shellcheck disable=SC2086
  "${APT[@]}" install --reinstall --no-install-recommends $broken && dpkg --configure -a
}

log "starting (device file $DEVICE_FILE)"
if [ ! -r "$DEVICE_FILE" ]; then
  log "error: $DEVICE_FILE is missing; write it (piot image configure does) and reboot"
  exit 1
fi
upgrade=false
if grep -Eq '^upgrade:[[:space:]]*true[[:space:]]*(#.*)?$' "$DEVICE_FILE"; then upgrade=true; fi

missing=()
for package in "${PACKAGES[@]}"; do
  installed "$package" || missing+=("$package")
done

if [ "$upgrade" = true ] || [ ${#missing[@]} -gt 0 ]; then
  step 1 "apt-get update"
  retry "apt-get update" "${APT_UPDATE[@]}"
else
  step 1 "apt-get update: skipped (nothing to install, upgrade: false)"
fi

if [ "$upgrade" = true ]; then
  step 2 "apt-get upgrade"
  retry "dpkg --configure -a" dpkg_recover
  retry "apt-get upgrade" "${APT[@]}" upgrade
else
  step 2 "apt-get upgrade: skipped (upgrade: false)"
fi

if [ ${#missing[@]} -gt 0 ]; then
  step 3 "install ${missing[*]}"
  retry "dpkg --configure -a" dpkg_recover
  retry "apt-get install ${missing[*]}" install_missing
else
  step 3 "install ${PACKAGES[*]}: already installed"
fi
major=$("$NODE" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 18 ]; then
  log "error: PioT needs Node.js 18 or later; $NODE is $("$NODE" --version 2>/dev/null || echo missing)"
  exit 1
fi

step 4 "fetch the app repository"
retry "piot fetch" "$PIOT" fetch

step 5 "start the agent"
systemctl enable --now --no-block piot-agent.service
# The enable symlinks must be on disk before the marker says bootstrap is done.
sync
mkdir -p "$(dirname "$MARKER")"
date -u +%Y-%m-%dT%H:%M:%SZ >"$MARKER.tmp"
sync "$MARKER.tmp"
mv "$MARKER.tmp" "$MARKER"
sync
log "done: $(cat "$MARKER")"
