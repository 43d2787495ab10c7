#!/usr/bin/env bash
# Runs examples/cluster/slurm.sh for real, on a one-node Slurm cluster that
# this script sets up on this machine, and checks the merged result against
# an unsharded run of the same scenario, seed and path count.
#
# Stages:
#   1. install Debian's slurm-wlm and munge if they are missing (apt-get);
#   2. start a private munged, slurmctld and slurmd (no systemd needed): all
#      their files live in a new temporary directory, on free ports, so an
#      existing Slurm or munge on the machine is left alone;
#   3. build revshare (cargo build --release) and submit slurm.sh: a job
#      array of SHARDS tasks plus a merge job (afterok), and wait for both;
#   4. check that every task and the merge job (revshare merge) succeeded;
#   5. run the same scenario unsharded and compare: summary.json byte for
#      byte except run.threads, run.elapsed_seconds and run.paths_per_second,
#      every other output file (CSVs, charts) byte for byte. Prints PASS or
#      FAIL; exits 1 on a mismatch or a failed job;
#   6. on exit (also on error or Ctrl-C): cancel leftover jobs, stop the
#      daemons it started and delete the temporary directory.
#
# Usage, as root on a Debian 12 machine or container, from anywhere:
#   examples/cluster/slurm-local.sh
# Environment (all optional):
#   SCENARIO  scenario file (default: scenarios/base.json)
#   PATHS     path count (default: 1000000: 977 batches, uneven over 64 shards)
#   SHARDS    array tasks (default: 64, as slurm.sh)
#   CPUS      cores per task (default: 1)
#   TIMEOUT   seconds to wait for each submission's jobs (default: 900)
#   FAIL_TASK an array index, e.g. 5: makes that task fail in the first
#             submission, checks that the merge job is then cancelled and
#             writes nothing, and reruns the task with RERUN=5 slurm.sh
#             (README.md, "Slurm") before the checks of stages 4 and 5
#   KEEP=1    keep the temporary directory (logs, shards, results) even on
#             success; it is always kept after a failure
set -euo pipefail

# Only this script's settings reach the Slurm commands and the jobs: no
# SLURM_CONF of a real cluster, no SBATCH_* defaults, no array variables of
# a job this script might run in.
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep -E '^(SLURM_|SBATCH_|SQUEUE_|SINFO_|SCONTROL_)' || true)

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
scenario=${SCENARIO:-$root/scenarios/base.json}
scenario=$(cd "$(dirname "$scenario")" && pwd)/$(basename "$scenario")
paths=${PATHS:-1000000}
shards=${SHARDS:-64}
cpus=${CPUS:-1}
timeout=${TIMEOUT:-900}
fail_task=${FAIL_TASK:-}
tag="revshare-slurm-local"
tmp=${TMPDIR:-/tmp}

stage() { printf '\n== %s\n' "$*"; }
say() { printf '   %s\n' "$*"; }
die() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}
# wait_for SECONDS WHAT COMMAND...: runs COMMAND every second until it
# succeeds; gives up after SECONDS.
wait_for() {
    local limit=$1 what=$2 t=0
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((t++ < limit)) || return 1
        sleep 1
    done
    say "$what (${t} s)"
}

[[ $(id -u) == 0 ]] || die "run this as root (it installs packages and starts slurmd, which must be root)"
[[ -f $scenario ]] || die "no scenario file $scenario"
[[ $paths =~ ^[1-9][0-9]*$ && $shards =~ ^[1-9][0-9]*$ && $cpus =~ ^[1-9][0-9]*$ ]] ||
    die "PATHS, SHARDS and CPUS must be positive whole numbers"
if [[ -n $fail_task ]] && ! [[ $fail_task =~ ^[0-9]+$ ]] || ((10#${fail_task:-0} >= shards)); then
    die "FAIL_TASK must be an array index, 0 to $((shards - 1))"
fi

# One run at a time: a second run would find the first one's daemons and
# state directory and take them for leftovers. The daemons do not inherit
# the lock (9>&- below), so it dies with this script.
exec 9>"$tmp/$tag.lock"
flock -n 9 || die "another $tag run holds $tmp/$tag.lock"

# Stops the daemons listed in DIR/daemons ("pid name" lines), newest first,
# if they are still running from DIR (a reused pid is left alone).
stop_daemons() {
    local dir=$1 pid name
    [[ -f $dir/daemons ]] || return 0
    tac "$dir/daemons" | while read -r pid name; do
        if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$dir/"; then
            kill "$pid" 2>/dev/null || true
            for _ in {1..20}; do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.5
            done
            if kill -0 "$pid" 2>/dev/null; then
                kill -9 "$pid" 2>/dev/null || true
                say "stopped $name (pid $pid, killed)"
            else
                say "stopped $name (pid $pid)"
            fi
        fi
    done
}

# Leftovers of an earlier run that was killed before it could clean up
# (directories kept on purpose, after a failure or with KEEP=1, are marked).
for old in "$tmp/$tag".*/; do
    [[ -d $old ]] || continue
    old=${old%/}
    [[ -f $old/kept ]] && continue
    echo "cleaning up after an earlier run that did not finish: $old"
    if [[ -f $old/slurm.conf ]] && command -v scancel >/dev/null; then
        SLURM_CONF=$old/slurm.conf timeout 10 scancel --quiet --user=root 2>/dev/null || true
    fi
    stop_daemons "$old"
    rm -rf "$old"
done

work=$(mktemp -d "$tmp/$tag.XXXXXX")
# munged wants every directory above its socket to be searchable by all.
chmod 755 "$work"
mkdir -p "$work"/{munge,ctld,slurmd,log}
chmod 700 "$work/ctld" "$work/slurmd"
state=running
conf= # our slurm.conf, once written

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    stage "6/6 cleanup"
    if [[ -n $conf ]] && [[ -n $(SLURM_CONF=$conf timeout 10 squeue -h -o %i 2>/dev/null) ]]; then
        say "cancelling the jobs still queued or running"
        SLURM_CONF=$conf timeout 10 scancel --full --quiet --user=root 2>/dev/null
        for _ in {1..15}; do
            [[ -z $(SLURM_CONF=$conf timeout 10 squeue -h -o %i 2>/dev/null) ]] && break
            sleep 1
        done
    fi
    stop_daemons "$work"
    if [[ $state == passed && ${KEEP:-0} != 1 ]]; then
        rm -rf "$work"
        say "removed $work"
    else
        date >"$work/kept"
        say "kept $work (logs in $work/log and $work/run/logs; rm -rf it when done)"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

#######################################################################
stage "1/6 packages"
missing=()
for pkg in slurm-wlm munge; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
    say "slurm-wlm and munge are installed"
else
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt_install() { apt-get install -y -q --no-install-recommends "${missing[@]}" >"$work/log/apt.log" 2>&1; }
    if ! apt_install; then
        apt-get update -q >>"$work/log/apt.log" 2>&1 || true
        apt_install || { tail -20 "$work/log/apt.log" >&2; die "apt-get install ${missing[*]} failed (log above)"; }
    fi
    say "installed"
fi
for cmd in munged munge unmunge slurmctld slurmd sbatch squeue scontrol scancel sinfo; do
    command -v "$cmd" >/dev/null || die "$cmd is not on PATH after installing slurm-wlm and munge"
done
say "$(slurmctld -V), $(munged -V 2>&1 | head -1)"

#######################################################################
stage "2/6 single-node Slurm in $work"
host=$(hostname -s)
# Free ports, away from the standard 6817/6818 of a real Slurm.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ctld_port=16817
until port_free $ctld_port && port_free $((ctld_port + 1)); do
    ((ctld_port += 2))
    ((ctld_port < 17817)) || die "no two free ports in 16817..17817"
done
slurmd_port=$((ctld_port + 1))

# This node as slurmd sees it: CPUs, sockets, cores, threads, memory.
node=$(slurmd -C | grep -m1 '^NodeName=') || die "slurmd -C did not describe this node"
node=${node/#NodeName=* CPUs=/NodeName=$host CPUs=}
say "node: $node"
node_cpus=$(sed -n 's/.* CPUs=\([0-9]*\) .*/\1/p' <<<"$node")
((cpus <= node_cpus)) || die "CPUS=$cpus but this node has $node_cpus CPUs: the tasks could never start"

dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 600 "$work/munge/munge.key"

cat >"$work/slurm.conf" <<EOF
# Written by examples/cluster/slurm-local.sh: one node, controller and
# compute node on this machine, every file under $work.
ClusterName=revshare-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/munge.socket
StateSaveLocation=$work/ctld
SlurmdSpoolDir=$work/slurmd
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
# No systemd, no cgroup hierarchy of our own: track job processes through
# /proc and do not bind tasks.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
# Start the next array tasks as soon as cores free up, not up to 3 s later
# (the default delay suits a busy cluster, not tasks of a fraction of a
# second: 64 tasks take about 25 s instead of 80 on 2 cores).
SchedulerParameters=batch_sched_delay=0
# Cores and memory are consumable, as on most clusters: the tasks' --mem
# and --cpus-per-task are honoured.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# Keep finished jobs in slurmctld for an hour: their states are read after
# the wait (there is no accounting database).
MinJobAge=3600
SlurmdTimeout=120
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
conf=$work/slurm.conf
export SLURM_CONF=$conf

# The daemons run in the foreground (-F, -D) as children of this script;
# their pids go to $work/daemons for the cleanup.
start() {
    local name=$1
    shift
    "$@" >"$work/log/$name.out" 2>&1 9>&- &
    echo "$! $name" >>"$work/daemons"
}
daemon_alive() { kill -0 "$(awk -v n="$1" '$2 == n {print $1}' "$work/daemons")" 2>/dev/null; }
started() { # NAME WHAT TIMEOUT CHECK...: waits for CHECK, or shows the log
    local name=$1 what=$2 limit=$3
    shift 3
    if ! wait_for "$limit" "$what" "$@"; then
        daemon_alive "$name" || say "$name exited"
        tail -20 "$work/log/$name.out" >&2
        die "$name did not come up within $limit s (log above, kept in $work/log)"
    fi
}

start munged munged -F --key-file="$work/munge/munge.key" \
    --socket="$work/munge/munge.socket" --pid-file="$work/munge/munged.pid" \
    --log-file="$work/log/munged.log" --seed-file="$work/munge/munged.seed"
munge_ok() { munge -S "$work/munge/munge.socket" -n | unmunge -S "$work/munge/munge.socket"; }
started munged "munged is up: a credential round-trips" 20 munge_ok

start slurmctld slurmctld -D -f "$work/slurm.conf"
started slurmctld "slurmctld is up on port $ctld_port" 30 scontrol ping

start slurmd slurmd -D -N "$host" -f "$work/slurm.conf"
node_idle() { [[ $(sinfo -h -n "$host" -o %T) == idle ]]; }
started slurmd "slurmd is up on port $slurmd_port; node $host is idle" 60 node_idle
sinfo | sed 's/^/   /'

#######################################################################
stage "3/6 build revshare, submit examples/cluster/slurm.sh and wait"
command -v cargo >/dev/null || die "cargo is not on PATH (run with the Rust toolchain's PATH, e.g. sudo -E)"
(cd "$root" && cargo build --release) || die "cargo build --release failed"
revshare=$root/target/release/revshare
say "$("$revshare" --version)"

run=$work/run
mkdir -p "$run"

# submit [VAR=VALUE...]: runs slurm.sh as a user would on a login node, from
# the repository (here, this machine's file system is the shared one; the
# jobs run in the directory sbatch was called from). Sets $array and $merge.
submit() {
    local out
    out=$(cd "$root" && env "$@" REVSHARE="$revshare" SHARDS="$shards" RUN="$run" \
        CPUS="$cpus" TIME=00:30:00 examples/cluster/slurm.sh "$scenario" "$paths" 9>&-) ||
        die "slurm.sh failed: $out"
    printf '%s\n' "$out" | sed 's/^/   /'
    read -r array merge < <(printf '%s\n' "$out" |
        sed -n 's/^shards: job array \([0-9]*\) .*; merge: job \([0-9]*\)$/\1 \2/p') ||
        die "could not read the job ids in slurm.sh's output"
}

# wait_jobs TASKS: waits until the array $array (TASKS tasks) and the merge
# job $merge have left the queue.
wait_jobs() {
    local n=$1 t0=$SECONDS shown=-10 last="" tasks merge_q running left now stuck
    say "waiting for array $array ($n task(s)) and merge job $merge (at most $timeout s)"
    while :; do
        # squeue lists jobs that have not finished (finished ones only with
        # -t; MinJobAge keeps their ids valid); -r: one line per array task.
        tasks=$(squeue -h -r -j "$array" -o %T) || die "squeue failed"
        merge_q=$(squeue -h -j "$merge" -o %T) || die "squeue failed"
        [[ -z $tasks && -z $merge_q ]] && break
        # Pending for a reason that waiting does not cure (more CPUs or
        # memory per task than the node has, for instance): stop now.
        stuck=$(squeue -h -j "$array,$merge" -t PD -o '%i %r' |
            grep -E ' (PartitionConfig|PartitionNodeLimit|PartitionTimeLimit|BadConstraints|Invalid[A-Za-z]*)$' || true)
        [[ -z $stuck ]] || die "jobs that can never start (job reason): $stuck"
        running=$(grep -c '^RUNNING$' <<<"$tasks" || true)
        left=$(grep -c . <<<"$tasks" || true)
        now="tasks: $((n - left)) done, $running running, $((left - running)) waiting; merge job: ${merge_q:-done}"
        if [[ $now != "$last" ]] && ((SECONDS - shown >= 5)); then
            say "$((SECONDS - t0)) s: $now"
            last=$now
            shown=$SECONDS
        fi
        ((SECONDS - t0 < timeout)) || die "the jobs did not finish within $timeout s (set TIMEOUT)"
        sleep 1
    done
    say "all jobs left the queue after $((SECONDS - t0)) s"
}

# job_states: sets $states ("task state exit" lines for the array) and
# $merge_state ("state exit" of the merge job), from slurmctld's memory
# (there is no accounting database).
job_states() {
    states=$(scontrol show job -o "$array" |
        sed -n 's/.*ArrayTaskId=\([^ ]*\) .*JobState=\([^ ]*\) .* ExitCode=\([^ ]*\) .*/\1 \2 \3/p')
    merge_state=$(scontrol show job -o "$merge" |
        sed -n 's/.*JobState=\([^ ]*\) .*Reason=\([^ ]*\) .* ExitCode=\([^ ]*\) .*/\1 \3 (reason: \2)/p')
}
show_failed_tasks() {
    awk '$2 != "COMPLETED" || $3 != "0:0"' <<<"$states" | while read -r i st ec; do
        say "task $i: $st, exit code $ec; end of $run/logs/shard-$i.log:"
        tail -5 "$run/logs/shard-$i.log" 2>/dev/null | sed 's/^/     /'
    done
}

if [[ -n $fail_task ]]; then
    # FAIL_TASK: a file where that task writes its output directory makes
    # revshare fail in that task, as a lost node or a full disk would.
    mkdir -p "$run/shards"
    echo "made by slurm-local.sh (FAIL_TASK=$fail_task)" >"$run/shards/$fail_task"
    say "FAIL_TASK=$fail_task: task $fail_task will fail (its output path is a file)"
    submit
    wait_jobs "$shards"
    job_states
    ok_tasks=$(awk '$2 == "COMPLETED" && $3 == "0:0"' <<<"$states" | wc -l)
    say "array $array: $ok_tasks of $shards tasks COMPLETED with exit code 0"
    show_failed_tasks
    say "merge job $merge: $merge_state"
    [[ $(awk '$2 != "COMPLETED" || $3 != "0:0" {print $1}' <<<"$states") == "$fail_task" ]] ||
        die "expected task $fail_task, and only it, to fail"
    [[ $merge_state == CANCELLED* ]] || die "the merge job should have been cancelled (afterok, --kill-on-invalid-dep)"
    [[ ! -e $run/result ]] || die "the merge job wrote $run/result despite the failed task"
    say "as expected: the merge job was cancelled and wrote nothing"
    rm "$run/shards/$fail_task"
    say "rerunning task $fail_task alone: RERUN=$fail_task examples/cluster/slurm.sh ..."
    submit RERUN="$fail_task"
    wait_jobs 1
else
    submit
    wait_jobs "$shards"
fi

#######################################################################
stage "4/6 job states and the merge"
job_states
n_tasks=$(grep -c . <<<"$states")
ok_tasks=$(awk '$2 == "COMPLETED" && $3 == "0:0"' <<<"$states" | wc -l)
say "array $array: $ok_tasks of $n_tasks tasks COMPLETED with exit code 0"
say "merge job $merge: $merge_state"
if ((ok_tasks != n_tasks)) || [[ $merge_state != "COMPLETED 0:0"* ]]; then
    show_failed_tasks
    [[ -f $run/logs/merge.log ]] && tail -20 "$run/logs/merge.log" | sed 's/^/     /'
    die "some jobs did not succeed"
fi
n=$(find "$run/shards" -name partial.bin | wc -l)
((n == shards)) || die "$n partial files in $run/shards, expected $shards"
say "$n partials, $(du -cb "$run"/shards/*/partial.bin | awk 'END {print $1}') bytes in all"
say "merge log ($run/logs/merge.log), lines cut at 100 characters:"
cut -c1-100 "$run/logs/merge.log" | sed 's/^/     /'
[[ -s $run/result/summary.json ]] || die "the merge job wrote no $run/result/summary.json"

#######################################################################
stage "5/6 compare with an unsharded run"
# The same frozen scenario file the tasks read, hence the same seed.
"$revshare" run "$run/scenario.json" --paths "$paths" --out "$work/whole" --quiet ||
    die "the unsharded run failed"
say "unsharded run: $work/whole"

# summary.json without run.threads, run.elapsed_seconds and
# run.paths_per_second: they describe the machines (see README.md) and are
# the only fields tests/shard.rs leaves out. Only these three, only in "run".
strip() {
    awk '
        /^  "run": \{/ { inrun = 1 }
        inrun && /^  \}/ { inrun = 0 }
        inrun && /^    "(threads|elapsed_seconds|paths_per_second)": / { dropped++; next }
        { print }
        END { if (dropped != 3) { print "expected 3 timing fields in run, found " dropped > "/dev/stderr"; exit 1 } }
    ' "$1"
}
field() { sed -n "s/^    \"$2\": \(.*\),\$/\1/p" "$1" | head -1; }
for f in threads elapsed_seconds paths_per_second; do
    say "ignored run.$f: unsharded $(field "$work/whole/summary.json" $f), merged $(field "$run/result/summary.json" $f)"
done

status=0
strip "$work/whole/summary.json" >"$work/whole.summary" || status=1
strip "$run/result/summary.json" >"$work/merged.summary" || status=1
if ((status == 0)) && cmp -s "$work/whole.summary" "$work/merged.summary"; then
    say "summary.json: identical apart from the 3 timing fields ($(wc -l <"$work/whole.summary") lines compared)"
else
    diff "$work/whole.summary" "$work/merged.summary" | head -40 >&2 || true
    say "summary.json: DIFFERS"
    status=1
fi
whole_files=$(cd "$work/whole" && find . -type f | sed 's|^\./||' | sort)
merged_files=$(cd "$run/result" && find . -type f | sed 's|^\./||' | sort)
if [[ $whole_files != "$merged_files" ]]; then
    diff <(echo "$whole_files") <(echo "$merged_files") >&2 || true
    say "the two runs wrote different sets of files"
    status=1
fi
same=0
while IFS= read -r f; do
    [[ $f == summary.json ]] && continue
    if cmp -s "$work/whole/$f" "$run/result/$f"; then
        ((++same))
    else
        say "$f: DIFFERS"
        status=1
    fi
done <<<"$whole_files"
say "$same other files (CSVs, charts) identical byte for byte"

if ((status == 0)); then
    state=passed
    echo
    echo "PASS: Slurm array of $shards tasks${fail_task:+ (task $fail_task rerun)} + merge job == unsharded run ($paths paths, $(basename "$scenario"))"
else
    echo
    echo "FAIL: the merged Slurm run differs from the unsharded run (files kept in $work)"
    exit 1
fi
