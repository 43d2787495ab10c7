#!/usr/bin/env bash
# Rehearses a 64-shard cluster run on this machine: runs every shard the way
# a Slurm array task (or a Kubernetes Indexed Job pod) would, by setting the
# scheduler's environment variables in a shell loop, merges the partials and
# checks that the result equals an unsharded run of the same scenario, seed
# and path count (byte for byte, timing fields aside).
#
# Usage: examples/cluster/simulate.sh [slurm|k8s]
# Environment (all optional):
#   REVSHARE  the revshare binary (default: target/release/revshare, else on PATH)
#   SCENARIO  scenario file (default: scenarios/base.json)
#   PATHS     path count of the whole run (default: 65536, one batch per shard)
#   SHARDS    number of shards (default: 64)
#   WORK      working directory (default: a new temporary directory)
set -euo pipefail

mode=${1:-slurm}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [[ -z ${REVSHARE:-} ]]; then
    if [[ -x $root/target/release/revshare ]]; then
        REVSHARE=$root/target/release/revshare
    else
        REVSHARE=revshare
    fi
fi
scenario=${SCENARIO:-$root/scenarios/base.json}
paths=${PATHS:-65536}
shards=${SHARDS:-64}
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"

case $mode in
slurm | k8s) ;;
*)
    echo "usage: $0 [slurm|k8s]" >&2
    exit 2
    ;;
esac

echo "running $shards shards of $paths paths ($mode environment) in $work"
for ((i = 0; i < shards; i++)); do
    if [[ $mode == slurm ]]; then
        # What sbatch --array=0-$((shards - 1)) sets in each task.
        SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=$shards \
            "$REVSHARE" run "$scenario" --paths "$paths" --threads 1 \
            --shard "auto/$shards" --out "$work/shards/$i" --quiet
    else
        # What an Indexed Job with completions: $shards sets in each pod.
        JOB_COMPLETION_INDEX=$i \
            "$REVSHARE" run "$scenario" --paths "$paths" --threads 1 \
            --shard "auto/$shards" --out "$work/shards/$i" --quiet
    fi
done

echo "merging"
start=$(date +%s%N)
"$REVSHARE" merge "$work"/shards/*/partial.bin --out "$work/merged" --quiet
end=$(date +%s%N)
echo "merged $shards partials in $(((end - start) / 1000000)) ms"

echo "running the same scenario unsharded"
"$REVSHARE" run "$scenario" --paths "$paths" --out "$work/unsharded" --quiet

# run.threads, run.elapsed_seconds and run.paths_per_second describe the
# machines, not the result: leave them out of the comparison.
strip() { grep -v -E '^    "(threads|elapsed_seconds|paths_per_second)": ' "$1"; }
status=0
if ! diff <(strip "$work/unsharded/summary.json") <(strip "$work/merged/summary.json"); then
    echo "FAIL: summary.json differs" >&2
    status=1
fi
# Every other file, charts included, must be identical byte for byte; the
# report's lines marked class="varies" (command line, threads, sampling
# time) describe the invocation, not the result.
while IFS= read -r name; do
    [[ $name == summary.json ]] && continue
    if [[ $name == report.html ]]; then
        if ! diff -q <(grep -v 'class="varies"' "$work/unsharded/$name") \
            <(grep -v 'class="varies"' "$work/merged/$name") >/dev/null; then
            echo "FAIL: $name differs" >&2
            status=1
        fi
        continue
    fi
    if ! cmp -s "$work/unsharded/$name" "$work/merged/$name"; then
        echo "FAIL: $name differs" >&2
        status=1
    fi
done < <(cd "$work/unsharded" && find . -type f | sed 's|^\./||' | sort)
if ((status == 0)); then
    echo "OK: the merge of $shards shards equals the unsharded run"
    echo "partial sizes (bytes): $(du -b "$work"/shards/*/partial.bin | awk '{s+=$1} END {printf "%d total, %d mean", s, s/NR}')"
fi
exit $status
