#!/bin/sh
# lighthouse-bridge-start: checks the environment, prepares directories, then execs lighthouse-bridge.
set -eu

log() { printf '%s\n' "lighthouse-bridge-start: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Required variables: each stops start-up with its name when unset or empty.
: "${LIGHTHOUSE_EVENT_STORE_PATH:?LIGHTHOUSE_EVENT_STORE_PATH is required: directory of the event store (bbolt file inside)}"
: "${LIGHTHOUSE_SNAPSHOT_PATH:?LIGHTHOUSE_SNAPSHOT_PATH is required: directory of snapshots}"
: "${LIGHTHOUSE_AUTH_SECRET:?LIGHTHOUSE_AUTH_SECRET is required: HMAC key for agent keys and session tokens: 32 to 1024 bytes, not guessable (an estimated 80 bits of entropy or more; base64 of 32 random bytes passes)}"

# Effective configuration (secret values are never printed).
log "LIGHTHOUSE_HOST=${LIGHTHOUSE_HOST-(unset)}"
log "LIGHTHOUSE_PORT=${LIGHTHOUSE_PORT-(unset)}"
log "LIGHTHOUSE_LOG_LEVEL=${LIGHTHOUSE_LOG_LEVEL-(unset)}"
log "LIGHTHOUSE_EVENT_STORE_PATH=${LIGHTHOUSE_EVENT_STORE_PATH-(unset)}"
log "LIGHTHOUSE_SNAPSHOT_PATH=${LIGHTHOUSE_SNAPSHOT_PATH-(unset)}"
log "LIGHTHOUSE_MOUNT_POINT=${LIGHTHOUSE_MOUNT_POINT-(unset)}"
if [ -n "${LIGHTHOUSE_AUTH_SECRET:-}" ]; then log "LIGHTHOUSE_AUTH_SECRET=(secret, set)"; else log "LIGHTHOUSE_AUTH_SECRET=(secret, unset)"; fi
log "LIGHTHOUSE_SHADOW_MAX_FILE_BYTES=${LIGHTHOUSE_SHADOW_MAX_FILE_BYTES-(unset)}"
log "LIGHTHOUSE_SHADOW_MAX_TOTAL_BYTES=${LIGHTHOUSE_SHADOW_MAX_TOTAL_BYTES-(unset)}"
log "LIGHTHOUSE_SHADOW_MAX_PATH_DEPTH=${LIGHTHOUSE_SHADOW_MAX_PATH_DEPTH-(unset)}"
log "LIGHTHOUSE_SHADOW_MAX_INDEX_BYTES=${LIGHTHOUSE_SHADOW_MAX_INDEX_BYTES-(unset)}"
log "LIGHTHOUSE_SHADOW_AGENT_SHARE=${LIGHTHOUSE_SHADOW_AGENT_SHARE-(unset)}"
log "LIGHTHOUSE_COORD_MAX_BYTES=${LIGHTHOUSE_COORD_MAX_BYTES-(unset)}"
log "LIGHTHOUSE_COORD_MAX_AGENT_BYTES=${LIGHTHOUSE_COORD_MAX_AGENT_BYTES-(unset)}"
log "LIGHTHOUSE_EVENT_STORE_MIN_FREE_BYTES=${LIGHTHOUSE_EVENT_STORE_MIN_FREE_BYTES-(unset)}"
log "LIGHTHOUSE_QUERY_SCAN_LIMIT=${LIGHTHOUSE_QUERY_SCAN_LIMIT-(unset)}"
log "LIGHTHOUSE_MEMORY_LIMIT=${LIGHTHOUSE_MEMORY_LIMIT-(unset)}"
log "LIGHTHOUSE_MAX_CONNECTIONS=${LIGHTHOUSE_MAX_CONNECTIONS-(unset)}"
log "LIGHTHOUSE_MAX_CONNECTIONS_PER_CLIENT=${LIGHTHOUSE_MAX_CONNECTIONS_PER_CLIENT-(unset)}"
log "LIGHTHOUSE_MAX_BYTES_IN_FLIGHT=${LIGHTHOUSE_MAX_BYTES_IN_FLIGHT-(unset)}"
log "LIGHTHOUSE_MAX_BYTES_IN_FLIGHT_PER_CLIENT=${LIGHTHOUSE_MAX_BYTES_IN_FLIGHT_PER_CLIENT-(unset)}"
log "LIGHTHOUSE_MAX_HEADER_BYTES=${LIGHTHOUSE_MAX_HEADER_BYTES-(unset)}"
log "LIGHTHOUSE_HEADER_TIMEOUT=${LIGHTHOUSE_HEADER_TIMEOUT-(unset)}"
log "LIGHTHOUSE_READ_TIMEOUT=${LIGHTHOUSE_READ_TIMEOUT-(unset)}"
log "LIGHTHOUSE_IDLE_TIMEOUT=${LIGHTHOUSE_IDLE_TIMEOUT-(unset)}"
log "LIGHTHOUSE_MAX_STREAMS=${LIGHTHOUSE_MAX_STREAMS-(unset)}"
log "LIGHTHOUSE_MAX_STREAMS_PER_AGENT=${LIGHTHOUSE_MAX_STREAMS_PER_AGENT-(unset)}"

# FUSE: the device must be passed in and the mount point must exist.
fuse_mount="${LIGHTHOUSE_MOUNT_POINT-/mnt/lighthouse/project}"
if [ -n "$fuse_mount" ]; then
  [ -c /dev/fuse ] || die '/dev/fuse is missing: pass the device in (FUSE mount of the shadow filesystem)'
  [ -d "$fuse_mount" ] || mkdir -p "$fuse_mount" 2>/dev/null || die "mount point $fuse_mount is missing and cannot be created"
fi

# Directories the service writes.
mkdir -p "${LIGHTHOUSE_EVENT_STORE_PATH}" || die "cannot create LIGHTHOUSE_EVENT_STORE_PATH=${LIGHTHOUSE_EVENT_STORE_PATH}"
[ -w "${LIGHTHOUSE_EVENT_STORE_PATH}" ] || die "LIGHTHOUSE_EVENT_STORE_PATH=${LIGHTHOUSE_EVENT_STORE_PATH} is not writable by uid $(id -u)"
mkdir -p "${LIGHTHOUSE_SNAPSHOT_PATH}" || die "cannot create LIGHTHOUSE_SNAPSHOT_PATH=${LIGHTHOUSE_SNAPSHOT_PATH}"
[ -w "${LIGHTHOUSE_SNAPSHOT_PATH}" ] || die "LIGHTHOUSE_SNAPSHOT_PATH=${LIGHTHOUSE_SNAPSHOT_PATH} is not writable by uid $(id -u)"

exec /usr/local/bin/lighthouse-bridge serve
