#!/usr/bin/env bash
# Runs a revshare scenario on a Slurm cluster: a job array of 64 tasks, one
# shard each, and a merge job that starts once every task has succeeded.
#
# Usage, on a login node, from a directory on the shared file system:
#   examples/cluster/slurm.sh [SCENARIO] [PATHS]
#   (defaults: scenarios/base.json, 1000000000 paths)
# Settings, from the environment:
#   REVSHARE  revshare binary visible on the compute nodes (default: revshare on PATH)
#   SHARDS    number of array tasks (default: 64)
#   RUN       run directory on the shared file system (default: runs/<scenario>-<paths>)
#   CPUS      cores per task (default: 4); TIME: time limit per task (default: 02:00:00)
#   PARTITION, ACCOUNT: passed to sbatch if set
#   RERUN     array indices to run again after some tasks failed, e.g.
#             RERUN=5,17, with the arguments, SHARDS and RUN of the first
#             submission: submits only those tasks, which read the run's
#             frozen scenario, and a new merge job (the first one was
#             cancelled when a task failed).
#
# The same file is the batch script of both jobs: REVSHARE_STEP tells it
# which part to play (sbatch passes the submitting environment to the job).
set -euo pipefail

case ${REVSHARE_STEP:-submit} in
shard)
    # One array task: SLURM_ARRAY_TASK_ID (0..SHARDS-1) picks the shard.
    # auto/N also checks that the array has N tasks (SLURM_ARRAY_TASK_COUNT).
    # A rerun is a smaller array (RERUN=5,17 has 2 tasks): it names the
    # shard itself.
    shard=auto/$SHARDS
    [[ -n ${RERUN:-} ]] && shard=$SLURM_ARRAY_TASK_ID/$SHARDS
    exec "$REVSHARE" run "$RUN/scenario.json" --paths "$PATHS" \
        --threads "${SLURM_CPUS_PER_TASK:-0}" --shard "$shard" \
        --out "$RUN/shards/$SLURM_ARRAY_TASK_ID" --quiet
    ;;
merge)
    # Checks that every shard is there exactly once, then writes the
    # outputs of an unsharded run.
    exec "$REVSHARE" merge "$RUN"/shards/*/partial.bin --out "$RUN/result"
    ;;
submit) ;;
*)
    echo "unknown REVSHARE_STEP=$REVSHARE_STEP" >&2
    exit 2
    ;;
esac

scenario=${1:-scenarios/base.json}
export PATHS=${2:-1000000000}
export SHARDS=${SHARDS:-64}
export REVSHARE=${REVSHARE:-$(command -v revshare || echo revshare)}
name=$(basename "$scenario" .json)
mkdir -p "${RUN:-runs/$name-$PATHS}/logs"
RUN=$(cd "${RUN:-runs/$name-$PATHS}" && pwd)
export RUN
if [[ -z ${RERUN:-} ]]; then
    # Freeze the scenario: every task reads this copy, so an edit of the
    # original during the run cannot mix two scenarios (merge would refuse).
    cp "$scenario" "$RUN/scenario.json"
    indices=0-$((SHARDS - 1))
else
    # A rerun reads the copy the first tasks read.
    if [[ ! -f $RUN/scenario.json ]]; then
        echo "RERUN=$RERUN: $RUN/scenario.json does not exist; give the RUN of the first submission" >&2
        exit 2
    fi
    cmp -s "$scenario" "$RUN/scenario.json" ||
        echo "note: $scenario differs from $RUN/scenario.json; the rerun uses the latter" >&2
    export RERUN
    indices=$RERUN
fi
"$REVSHARE" validate "$RUN/scenario.json"

extra=()
[[ -n ${PARTITION:-} ]] && extra+=(--partition="$PARTITION")
[[ -n ${ACCOUNT:-} ]] && extra+=(--account="$ACCOUNT")

array=$(REVSHARE_STEP=shard sbatch --parsable ${extra[@]+"${extra[@]}"} \
    --job-name="revshare-$name" \
    --array="$indices" \
    --cpus-per-task="${CPUS:-4}" --mem=1G --time="${TIME:-02:00:00}" \
    --output="$RUN/logs/shard-%a.log" \
    "$0")
array=${array%%;*}
merge=$(REVSHARE_STEP=merge sbatch --parsable ${extra[@]+"${extra[@]}"} \
    --job-name="revshare-$name-merge" \
    --dependency="afterok:$array" --kill-on-invalid-dep=yes \
    --cpus-per-task=1 --mem=2G --time=00:30:00 \
    --output="$RUN/logs/merge.log" \
    "$0")
echo "shards: job array $array (tasks $indices of $SHARDS); merge: job ${merge%%;*}"
echo "results will be in $RUN/result/ (logs in $RUN/logs/)"
