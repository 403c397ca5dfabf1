#!/bin/sh
# notes-api-start: checks the environment, prepares directories, then execs notes.
set -eu

log() { printf '%s\n' "notes-api-start: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Required variables: each stops start-up with its name when unset or empty.
: "${NOTES_DATA_DIR:?NOTES_DATA_DIR is required: directory of the note files}"
: "${NOTES_DB_PASSWORD:?NOTES_DB_PASSWORD is required: password of the notes database user}"

# Effective configuration (secret values are never printed).
log "NOTES_LISTEN=${NOTES_LISTEN-(unset)}"
log "NOTES_DATA_DIR=${NOTES_DATA_DIR-(unset)}"
log "NOTES_CACHE_DIR=${NOTES_CACHE_DIR-(unset)}"
log "NOTES_GREETING=${NOTES_GREETING-(unset)}"
if [ -n "${NOTES_DB_PASSWORD:-}" ]; then log "NOTES_DB_PASSWORD=(secret, set)"; else log "NOTES_DB_PASSWORD=(secret, unset)"; fi

# Directories the service writes.
mkdir -p "${NOTES_DATA_DIR}" || die "cannot create NOTES_DATA_DIR=${NOTES_DATA_DIR}"
[ -w "${NOTES_DATA_DIR}" ] || die "NOTES_DATA_DIR=${NOTES_DATA_DIR} is not writable by uid $(id -u)"
mkdir -p "${NOTES_CACHE_DIR:-/var/cache/notes}" || die "cannot create NOTES_CACHE_DIR=${NOTES_CACHE_DIR:-/var/cache/notes}"
[ -w "${NOTES_CACHE_DIR:-/var/cache/notes}" ] || die "NOTES_CACHE_DIR=${NOTES_CACHE_DIR:-/var/cache/notes} is not writable by uid $(id -u)"

exec /usr/local/bin/notes --config-from-env
