#!/usr/bin/env bash
# Runs the sealing benchmarks on a throwaway SoftHSM2 token and prints each result as a ratio
# against the baseline measured in the same run (see docs/benchmarks.md).
#   scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
token_dir=$(mktemp -d /tmp/medikamente-bench-token.XXXXXX)
trap 'rm -rf "$token_dir"' EXIT
eval "$(hsm-config/softhsm2-token.sh "$token_dir")"

target=${CARGO_TARGET_DIR:-target}
rm -rf "$target/criterion/open_4k" "$target/criterion/token"
cargo bench -p vault --bench envelope -- --warm-up-time 2 --measurement-time 5 --noplot

python3 - "$target/criterion" <<'PY'
import json, sys, os
root = sys.argv[1]
def mean_ns(group, bench):
    with open(os.path.join(root, group, bench, "new", "estimates.json")) as f:
        return json.load(f)["mean"]["point_estimate"]
bare = mean_ns("open_4k", "bare_aes256gcmsiv_open")
warm = mean_ns("open_4k", "vault_warm_open")
seal_open = mean_ns("open_4k", "vault_seal_then_open")
raw = mean_ns("token", "raw_token_unwrap")
cold = mean_ns("token", "vault_cold_open")
print()
print(f"bare AES-256-GCM-SIV open, 4 KiB : {bare/1000:8.2f} us  ({1e9/bare:10.0f}/s)  baseline")
print(f"vault warm open, 4 KiB           : {warm/1000:8.2f} us  ({1e9/warm:10.0f}/s)  cost ratio {warm/bare:.2f}x (goal <= 1.5x)")
print(f"vault seal + open, 4 KiB         : {seal_open/1000:8.2f} us  ({1e9/seal_open:10.0f}/s)")
print(f"raw token unwrap (cryptoki)      : {raw/1000:8.2f} us  ({1e9/raw:10.0f}/s)  baseline")
print(f"vault cold open (unwrap + open)  : {cold/1000:8.2f} us  ({1e9/cold:10.0f}/s)  rate ratio {raw/cold:.2f} (goal >= 0.5)")
PY
