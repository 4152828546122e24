#!/usr/bin/env bash
# Runs every test of the workspace: unit and property tests, the store tests on SQLite and on
# PostgreSQL, the PKCS#11 tests on a throwaway SoftHSM2 token, the CLI tests and the published
# test vectors. Nothing is skipped: a missing PostgreSQL or token fails the run.
#
#   scripts/test.sh [extra cargo test args]
#
# Needs: PostgreSQL at $VAULT_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres,
# each test creates its own database), SoftHSM2 and postgresql-client (installed here with apt-get
# when run as root).
set -euo pipefail
cd "$(dirname "$0")/.."

# SoftHSM2 for the token tests; psql and pg_dump (postgresql-client) for the database checks and
# clinic-app's scan of a raw dump for personal data.
if ! command -v softhsm2-util >/dev/null 2>&1 || ! command -v pg_dump >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "test.sh: installing softhsm2 and postgresql-client"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 postgresql-client >/dev/null
  else
    echo "test.sh: SoftHSM2 or pg_dump is missing: sudo apt-get install softhsm2 postgresql-client" >&2
    exit 1
  fi
fi

export VAULT_TEST_POSTGRES_URL=${VAULT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
if command -v psql >/dev/null 2>&1; then
  if ! psql "$VAULT_TEST_POSTGRES_URL" -qAtc 'SELECT 1' >/dev/null 2>&1; then
    echo "test.sh: PostgreSQL at $VAULT_TEST_POSTGRES_URL is unreachable: start it or set VAULT_TEST_POSTGRES_URL" >&2
    exit 1
  fi
  # Databases left by earlier runs (each test makes its own).
  for db in $(psql "$VAULT_TEST_POSTGRES_URL" -qAtc "SELECT datname FROM pg_database WHERE datname LIKE 'vault\_test\_%' OR datname LIKE 'clinic\_test\_%'"); do
    psql "$VAULT_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null
  done
fi

token_dir=$(mktemp -d /tmp/medikamente-test-token.XXXXXX)
trap 'rm -rf "$token_dir"' EXIT
eval "$(hsm-config/softhsm2-token.sh "$token_dir")"

# The published Wycheproof vectors sit beside the repository, in shared/ (never copied in).
if [ -z "${VAULT_WYCHEPROOF_DIR:-}" ] && [ -d ../shared/vectors/wycheproof ]; then
  VAULT_WYCHEPROOF_DIR=$(cd ../shared/vectors/wycheproof && pwd)
  export VAULT_WYCHEPROOF_DIR
fi

log=$(mktemp /tmp/medikamente-test-log.XXXXXX)
trap 'rm -rf "$token_dir" "$log"' EXIT
cargo test --workspace "$@" 2>&1 | tee "$log"

# One closing line for the whole run (the last cargo line is usually an empty doc-test target).
awk '/^test result:/ { p += $4; f += $6 } END { printf "workspace: %d passed, %d failed\n", p, f }' "$log"
