#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (default 60 s each) with the committed
# seeds, and leaves a log per target in fuzz/logs/. Usage: fuzz/run.sh [SECONDS] [TARGET...]
#
# cargo-fuzz needs nightly-only flags (-Zsanitizer=address and friends). This machine has only
# stable Rust, so RUSTC_BOOTSTRAP=1 lets stable rustc accept them (the AddressSanitizer runtime
# ships with the stable toolchain too). Install once with: cargo install cargo-fuzz --locked
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
secs="${1:-60}"
shift || true
export RUSTC_BOOTSTRAP=1
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
mkdir -p logs
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "seeds/$t"
    echo "== $t ($secs s)"
    # corpus/<t> grows (not committed); seeds/<t> is read only.
    if cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -timeout=10 -print_final_stats=1 \
        > "logs/$t.log" 2>&1; then
        grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE" "logs/$t.log" | tr '\n' ' '
        echo
    else
        echo "!! $t found a crash: see fuzz/logs/$t.log and fuzz/artifacts/$t/"
        tail -40 "logs/$t.log"
        exit 1
    fi
done
