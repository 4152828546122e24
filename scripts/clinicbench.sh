#!/usr/bin/env bash
# Load benchmark of clinic-app (issue 5): the day view of 300 appointments with names from the
# vault against the same view with names withheld, and 1,000 concurrent self-bookings on 100
# slots. Starts a demo vault and clinic-app in one process on fresh PostgreSQL databases
# (127.0.0.1:5432, user postgres, or VAULT_TEST_POSTGRES_URL), release build. Knobs:
# CLINICBENCH_CONNECTIONS (4), CLINICBENCH_ROUNDS (4; the two loads take turns ABBA),
# CLINICBENCH_DURATION (5 s per load and round), CLINICBENCH_WARMUP (1 s), CLINICBENCH_RACERS
# (1000), CLINICBENCH_VACUUM (1: vacuum both databases after seeding, the steady state of a day
# booked days before; 0: measure rows fresh from seeding). Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/medikamente/target}"
psql "${VAULT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}" -qAtc \
  "SELECT 'synchronous_commit = ' || current_setting('synchronous_commit') || ', fsync = ' || current_setting('fsync')"
RUST_LOG="${RUST_LOG:-warn}" cargo bench -p clinic-app --bench clinic_load
