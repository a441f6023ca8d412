#!/usr/bin/env bash
# Prove the SLURM profile (workflow/profiles/slurm) against a real, one-node SLURM on this machine.
#
#   tests/cluster/run_local_slurm.sh [--workflow auto|repo|mini] [--keep]
#
# Steps: install Debian's slurm-wlm and munge when absent (apt, needs root); write a one-node
# slurm.conf for this host into a scratch folder (SLURM_CONF points there; /etc/slurm is never
# touched); start munged, slurmctld and slurmd with pid files in that folder; run a tiny sweep through
# `snakemake --profile workflow/profiles/slurm`; check with squeue/scontrol and slurmctld's log that
# every job really ran under SLURM; compare its run rows with the stored reference of the tiny sweep
# (the mini workflow: run the same sweep locally, --cores 2, and compare the result bodies); submit a
# GPU rule to show the GPU request in the sbatch call (a GPU-less node must refuse it); stop every
# daemon it started (trap on EXIT, also on failure or time-out).
#
# --workflow repo: the project's workflow/Snakefile with workflow/config/test_tiny.yaml (the default, `auto`,
#                  when both exist); mini: tests/cluster/mini/Snakefile, the infrastructure alone.
# --keep:          keep the scratch folder (logs, both result trees) for inspection.
#
# Environment: MTRL_SLURM_TIME_LIMIT (seconds for the whole script, default 1800),
#              MTRL_SLURM_SCRATCH (scratch folder; default a fresh mktemp -d),
#              MTRL_PYTHON (the project's Python; default .venv/bin/python, else python3 on PATH).
# Exit codes: 0 all checks passed; 1 a check failed; 2 usage; 3 SLURM could not be set up here
#             (install, munge or daemons); 4 a Snakemake run failed; 5 SLURM and local outputs differ;
#             77 cannot run here (not root and SLURM not installed); 124 time limit reached.
set -uo pipefail

usage() { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; }

WORKFLOW=auto
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --workflow) WORKFLOW="${2:-}"; shift 2 ;;
    --workflow=*) WORKFLOW="${1#*=}"; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
case "$WORKFLOW" in auto|repo|mini) ;; *) echo "--workflow must be auto, repo or mini" >&2; exit 2 ;; esac

TIME_LIMIT="${MTRL_SLURM_TIME_LIMIT:-1800}"
T0=$(date +%s)
DEADLINE=$(( T0 + TIME_LIMIT ))
# Long steps run under `limited`, which gives them what is left of the time limit (TERM, then KILL
# 30 s later); the script itself is never killed, so its EXIT trap always stops the daemons.
limited() {
  local left=$(( DEADLINE - $(date +%s) ))
  [ "$left" -gt 0 ] || { TIMED_OUT=1; return 124; }
  timeout -k 30 "$left" "$@"
  local rc=$?
  [ "$rc" = 124 ] || [ "$rc" = 137 ] && TIMED_OUT=1
  return "$rc"
}
TIMED_OUT=0

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
log() { printf '[%4ds] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
die() {
  local code="$1"; shift
  if [ "$TIMED_OUT" = 1 ] || [ "$(date +%s)" -ge "$DEADLINE" ]; then log "FAIL: time limit of ${TIME_LIMIT}s reached (MTRL_SLURM_TIME_LIMIT): $*" >&2; exit 124; fi
  log "FAIL: $*" >&2; exit "$code"
}
timing() { TIMINGS+=("$1=$2s"); log "timing: $1 took $2 s"; }
TIMINGS=()

# --- the project's Python ------------------------------------------------------------------------
if [ -n "${MTRL_PYTHON:-}" ]; then PY="$MTRL_PYTHON"
elif [ -x "$REPO/.venv/bin/python" ]; then PY="$REPO/.venv/bin/python"
else PY="$(command -v python3)"; fi
PYBIN="$(dirname "$PY")"
# Jobs inherit this PATH (the plugin submits with sbatch --export=ALL): they find mtrl-bench there.
export PATH="$PYBIN:$PATH"
"$PY" -c "import snakemake, snakemake_executor_plugin_slurm" 2>/dev/null \
  || die 3 "$PY lacks snakemake or snakemake-executor-plugin-slurm (pip install -e '.[slurm]')"
PLUGIN_VERSION="$("$PY" -c 'import importlib.metadata as m; print(m.version("snakemake-executor-plugin-slurm"))')"

if [ "$WORKFLOW" = auto ]; then
  if [ -f "$REPO/workflow/Snakefile" ] && [ -f "$REPO/workflow/config/test_tiny.yaml" ]; then WORKFLOW=repo; else WORKFLOW=mini; fi
fi
log "workflow: $WORKFLOW; python: $PY; snakemake-executor-plugin-slurm $PLUGIN_VERSION; limit ${TIME_LIMIT}s"

# --- 1. install slurm-wlm and munge when absent ---------------------------------------------------
need_install=0
for b in slurmctld slurmd sbatch squeue scontrol sinfo srun munged munge unmunge; do
  command -v "$b" >/dev/null 2>&1 || need_install=1
done
if [ "$need_install" = 1 ]; then
  [ "$(id -u)" = 0 ] || { log "SKIP: SLURM is not installed and installing it needs root"; exit 77; }
  command -v apt-get >/dev/null || die 3 "SLURM is not installed and there is no apt-get to install it"
  log "installing slurm-wlm and munge with apt-get"
  t=$(date +%s)
  # Keep the packages' services from starting during the install (we start our own daemons);
  # a policy-rc.d that is already there is left as it is.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1
  fi
  apt_install() {
    limited env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
      --no-install-recommends slurm-wlm munge >"$1" 2>&1
  }
  apt_log="$(mktemp /tmp/mtrl-slurm-apt.XXXXXX.log)"
  if ! apt_install "$apt_log"; then
    log "apt-get install failed; running apt-get update and trying again"
    limited apt-get -o DPkg::Lock::Timeout=300 update -q >>"$apt_log" 2>&1
    apt_install "$apt_log" || { [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d; tail -20 "$apt_log" >&2
                                 die 3 "apt-get install slurm-wlm munge failed (log: $apt_log)"; }
  fi
  [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  rm -f "$apt_log"
  timing install $(( $(date +%s) - t ))
else
  log "slurm-wlm and munge already installed"
  timing install 0
fi
SLURM_VERSION="$(dpkg-query -W -f '${Version}' slurm-client 2>/dev/null || echo unknown)"
log "SLURM (slurm-client) $SLURM_VERSION, munge $(dpkg-query -W -f '${Version}' munge 2>/dev/null || echo unknown)"

# --- 2. scratch folder, clean-up trap ------------------------------------------------------------
if [ -n "${MTRL_SLURM_SCRATCH:-}" ]; then SCRATCH="$MTRL_SLURM_SCRATCH"; mkdir -p "$SCRATCH"
else SCRATCH="$(mktemp -d /tmp/mtrl-slurm.XXXXXX)"; fi
chmod 700 "$SCRATCH"
mkdir -p "$SCRATCH"/{etc,run,log,state,spool,munge}
log "scratch folder: $SCRATCH"

stop_pidfile() {  # stop the daemon whose pid is in $1 (only if that process is still the daemon $2)
  local pidfile="$1" name="$2" pid
  [ -s "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q "$name" "/proc/$pid/comm" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; log "killed $name ($pid) with SIGKILL"
    else log "stopped $name ($pid)"; fi
  fi
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  log "cleaning up (exit code $rc)"
  if [ -s "$SCRATCH/run/slurmctld.pid" ] && command -v scancel >/dev/null; then
    SLURM_CONF="$SCRATCH/etc/slurm.conf" timeout 20 scancel --user="$(id -un)" >/dev/null 2>&1 || true
  fi
  stop_pidfile "$SCRATCH/run/slurmd.pid" slurmd
  stop_pidfile "$SCRATCH/run/slurmctld.pid" slurmctld
  stop_pidfile "$SCRATCH/run/munged.pid" munged
  # job steps that slurmd started for our jobs and that outlived it (they name our spool folder)
  for p in $(pgrep -x slurmstepd 2>/dev/null); do
    grep -qa "$SCRATCH" "/proc/$p/environ" "/proc/$p/cmdline" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  done
  if [ "$rc" != 0 ] && [ -d "$SCRATCH/log" ]; then
    for f in "$SCRATCH"/log/slurmctld.log "$SCRATCH"/log/slurmd.log; do
      [ -s "$f" ] && { echo "--- last lines of $f" >&2; tail -15 "$f" >&2; }
    done
  fi
  [ ${#TIMINGS[@]} -gt 0 ] && log "timings: ${TIMINGS[*]} total=$(( $(date +%s) - T0 ))s"
  if [ "$KEEP" = 1 ] || [ "$rc" != 0 ]; then log "scratch folder kept: $SCRATCH"
  else rm -rf "$SCRATCH"; fi
  [ "$rc" = 0 ] && log "PASS" || log "FAILED (exit code $rc)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# --- 3. munge ----------------------------------------------------------------------------------
t=$(date +%s)
# Our own key and socket: a munged that is already running on this host is left alone.
MUNGE_KEY="$SCRATCH/munge/munge.key"
MUNGE_SOCKET="$SCRATCH/munge/munge.socket"
dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none && chmod 600 "$MUNGE_KEY"
munged --force --key-file="$MUNGE_KEY" --socket="$MUNGE_SOCKET" --pid-file="$SCRATCH/run/munged.pid" \
  --log-file="$SCRATCH/log/munged.log" --seed-file="$SCRATCH/munge/munged.seed" \
  >"$SCRATCH/log/munged.out" 2>&1 || { cat "$SCRATCH/log/munged.out" >&2; die 3 "munged did not start"; }
for _ in $(seq 50); do [ -S "$MUNGE_SOCKET" ] && break; sleep 0.1; done
munge --socket="$MUNGE_SOCKET" -n | unmunge --socket="$MUNGE_SOCKET" >/dev/null \
  || die 3 "munge credential round trip failed (see $SCRATCH/log/munged.log)"
log "munged running (pid $(cat "$SCRATCH/run/munged.pid"))"

# --- 4. one-node slurm.conf ----------------------------------------------------------------------
HOST="$(hostname -s)"
NCPU="$(nproc)"
MEM_MB=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
CTLD_PORT=$(free_port); SLURMD_PORT=$(free_port)
while [ "$SLURMD_PORT" = "$CTLD_PORT" ]; do SLURMD_PORT=$(free_port); done
for real_conf in /etc/slurm/slurm.conf /etc/slurm-llnl/slurm.conf; do
  [ -e "$real_conf" ] && log "found $real_conf: left untouched (this test uses its own SLURM_CONF)"
done
export SLURM_CONF="$SCRATCH/etc/slurm.conf"
cat >"$SLURM_CONF" <<EOF
# Written by tests/cluster/run_local_slurm.sh for a throw-away one-node cluster.
ClusterName=mtrltest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$SCRATCH/state
SlurmdSpoolDir=$SCRATCH/spool
SlurmctldPidFile=$SCRATCH/run/slurmctld.pid
SlurmdPidFile=$SCRATCH/run/slurmd.pid
SlurmctldLogFile=$SCRATCH/log/slurmctld.log
SlurmdLogFile=$SCRATCH/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
# Finished jobs stay visible to squeue/scontrol this long; the plugin's squeue status needs >= 3x its
# first status-check delay.
MinJobAge=3600
SlurmdParameters=config_overrides
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$NCPU RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
log "slurm.conf: $SLURM_CONF (node $HOST, $NCPU CPUs, ${MEM_MB} MB, ports $CTLD_PORT/$SLURMD_PORT)"
# Inside a job, snakemake-executor-plugin-slurm-jobstep (0.6.1) starts each rule with a nested
# `srun`, after removing every SLURM_* variable but the job's identity from the environment,
# SLURM_CONF included. On a real cluster srun then reads /etc/slurm/slurm.conf (or slurmd's
# configless cache); ours lives in the scratch folder, so jobs get an `srun` first on PATH that puts
# SLURM_CONF back and runs the real srun. Nothing else is changed: every step is a real SLURM step.
mkdir -p "$SCRATCH/bin"
cat >"$SCRATCH/bin/srun" <<EOF
#!/bin/sh
SLURM_CONF='$SLURM_CONF' exec '$(command -v srun)' "\$@"
EOF
chmod 755 "$SCRATCH/bin/srun"
export PATH="$SCRATCH/bin:$PATH"

# --- 5. slurmctld and slurmd ---------------------------------------------------------------------
slurmctld -f "$SLURM_CONF" >"$SCRATCH/log/slurmctld.out" 2>&1 \
  || { cat "$SCRATCH/log/slurmctld.out" >&2; die 3 "slurmctld did not start"; }
for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
scontrol ping | grep -q UP || die 3 "slurmctld does not answer scontrol ping"
slurmd -f "$SLURM_CONF" >"$SCRATCH/log/slurmd.out" 2>&1 \
  || { cat "$SCRATCH/log/slurmd.out" >&2; die 3 "slurmd did not start"; }
node_state=""
for _ in $(seq 150); do
  node_state="$(sinfo -h -n "$HOST" -o %T 2>/dev/null)"
  [ "$node_state" = idle ] && break; sleep 0.2
done
[ "$node_state" = idle ] || die 3 "node $HOST is '$node_state', not idle, after 30 s"
timing daemons $(( $(date +%s) - t ))
sinfo
# A bare SLURM job and a job step, before Snakemake is involved.
smoke_id="$(sbatch --parsable -o "$SCRATCH/log/smoke-%j.out" --wrap 'echo "smoke on $(hostname) job $SLURM_JOB_ID"')" \
  || die 3 "sbatch of a bare job failed"
timeout 60 srun -N1 -n1 true || die 3 "srun failed"
for _ in $(seq 100); do
  st="$(scontrol show job "$smoke_id" 2>/dev/null | grep -o 'JobState=[A-Z]*' | cut -d= -f2)"
  [ "$st" = COMPLETED ] && break; sleep 0.2
done
[ "$st" = COMPLETED ] || die 3 "smoke job $smoke_id is $st"
log "smoke job $smoke_id COMPLETED; srun works"
if sacct -n -j "$smoke_id" >/dev/null 2>"$SCRATCH/log/sacct.err"; then
  log "sacct answers: $(sacct -n -X -j "$smoke_id" -o JobID,State 2>&1 | head -3 | tr '\n' ' ')"
else
  log "sacct does not answer here, as expected without an accounting database: $(head -1 "$SCRATCH/log/sacct.err")"
fi

# --- 6. the sweep, under SLURM and locally -------------------------------------------------------
copy_tree() {  # copy the working tree (tracked and untracked, not ignored files) to $1
  mkdir -p "$1"
  if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
      | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$1"
  else
    (cd "$REPO" && tar --exclude=.venv --exclude=results --exclude=.snakemake -cf - .) | tar -xf - -C "$1"
  fi
}
if [ "$WORKFLOW" = repo ]; then
  SMK_TARGET_ARGS=(--configfile workflow/config/test_tiny.yaml)
else
  SMK_TARGET_ARGS=(--snakefile tests/cluster/mini/Snakefile)
fi
# Options for a cluster without an accounting database (see docs/cluster.md, "Clusters without an accounting database"): job states from
# squeue, a short first status-check delay (MinJobAge=3600 above >= 3x5 s), no account.
NOACCT_ARGS=(--slurm-status-command squeue --slurm-init-seconds-before-status-checks 5 --slurm-no-account)

SLURM_DIR="$SCRATCH/slurm-run"; LOCAL_DIR="$SCRATCH/local-run"
copy_tree "$SLURM_DIR"
[ -f "$SLURM_DIR/workflow/profiles/slurm/config.yaml" ] || die 1 "the copy lacks workflow/profiles/slurm/config.yaml"

log "sweep under SLURM: snakemake --profile workflow/profiles/slurm ${SMK_TARGET_ARGS[*]} ${NOACCT_ARGS[*]}"
t=$(date +%s)
(cd "$SLURM_DIR" && limited "$PY" -m snakemake --profile workflow/profiles/slurm "${SMK_TARGET_ARGS[@]}" \
   "${NOACCT_ARGS[@]}" --cores "$NCPU" --slurm-keep-successful-logs --verbose) >"$SCRATCH/log/snakemake-slurm.log" 2>&1
smk_rc=$?
timing sweep_slurm $(( $(date +%s) - t ))
if [ "$smk_rc" != 0 ]; then
  grep -E "Error|error|FAIL|sbatch call" "$SCRATCH/log/snakemake-slurm.log" | tail -30 >&2
  die 4 "snakemake under SLURM failed (rc $smk_rc; log $SCRATCH/log/snakemake-slurm.log)"
fi

# The project's tiny sweep has a stored reference (tests/reference/test_tiny_results.csv, which
# tests/test_workflow.py checks a local run against): the SLURM run is compared with it, with no second,
# local sweep. The mini workflow has none: it is run locally too.
REFERENCE="$REPO/tests/reference/test_tiny_results.csv"
if [ "$WORKFLOW" = repo ] && [ -f "$REFERENCE" ]; then
  COMPARE_ARGS=(--reference "$REFERENCE")
  SMK_RUN_LOG="$SCRATCH/log/snakemake-slurm.log"
else
  log "same sweep locally: snakemake --cores 2 ${SMK_TARGET_ARGS[*]}"
  copy_tree "$LOCAL_DIR"
  t=$(date +%s)
  (cd "$LOCAL_DIR" && limited "$PY" -m snakemake --cores 2 "${SMK_TARGET_ARGS[@]}") >"$SCRATCH/log/snakemake-local.log" 2>&1
  smk_rc=$?
  timing sweep_local $(( $(date +%s) - t ))
  [ "$smk_rc" = 0 ] || { tail -30 "$SCRATCH/log/snakemake-local.log" >&2; die 4 "local snakemake failed (rc $smk_rc)"; }
  COMPARE_ARGS=(--local "$LOCAL_DIR")
  SMK_RUN_LOG="$SCRATCH/log/snakemake-local.log"
fi

# --- 7. did the jobs really run under SLURM? -----------------------------------------------------
SMK_LOG="$SCRATCH/log/snakemake-slurm.log"
RUN_ID="$(grep -o 'SLURM run ID: [0-9a-f-]*' "$SMK_LOG" | head -1 | awk '{print $4}')"
[ -n "$RUN_ID" ] || die 1 "no 'SLURM run ID' in the snakemake log: the slurm executor was not used"
mapfile -t SUBMITTED < <(grep -oE 'submitted with SLURM jobid [0-9]+' "$SMK_LOG" | awk '{print $5}' | sort -un)
[ ${#SUBMITTED[@]} -gt 0 ] || die 1 "snakemake submitted no SLURM job"
N_RULE_JOBS="$(grep -cE '^(localrule|rule) ' "$SMK_RUN_LOG")"
log "snakemake run $RUN_ID submitted ${#SUBMITTED[@]} SLURM jobs for $N_RULE_JOBS rule jobs"
squeue --states=all --noheader --name "$RUN_ID" -o '%i|%T|%N|%j' > "$SCRATCH/log/squeue.txt"
bad=0
for id in "${SUBMITTED[@]}"; do
  info="$(scontrol show job "$id" 2>&1)"
  state="$(grep -o 'JobState=[A-Z_]*' <<<"$info" | cut -d= -f2)"
  exitc="$(grep -o ' ExitCode=[0-9:]*' <<<"$info" | cut -d= -f2)"
  node="$(grep -o ' BatchHost=[^ ]*' <<<"$info" | cut -d= -f2)"
  grep -q "^$id|COMPLETED|" "$SCRATCH/log/squeue.txt" || { log "squeue does not list job $id as COMPLETED"; bad=1; }
  grep -qE "_job_complete: JobId=$id (WEXITSTATUS 0|done)" "$SCRATCH/log/slurmctld.log" \
    || { log "slurmctld's log has no successful completion of job $id"; bad=1; }
  if [ "$state" != COMPLETED ] || [ "$exitc" != 0:0 ]; then log "job $id: state $state exit $exitc"; bad=1; fi
  log "SLURM job $id: $state, ExitCode $exitc, node $node"
done
[ "$bad" = 0 ] || die 1 "not every submitted job completed under SLURM"
# Each job's SLURM log exists (kept by --slurm-keep-successful-logs).
n_logs="$(find "$SLURM_DIR/.snakemake/slurm_logs" -name '*.log' | wc -l)"
[ "$n_logs" -ge "${#SUBMITTED[@]}" ] || die 1 "only $n_logs SLURM logs for ${#SUBMITTED[@]} jobs"
grep -q -- '--export=ALL' "$SMK_LOG" || die 1 "sbatch calls lack --export=ALL (jobs would miss PATH)"
if grep -q 'group job' "$SMK_LOG" || grep -q 'group_' <<<"$(ls "$SLURM_DIR/.snakemake/slurm_logs")"; then
  log "group jobs were submitted: $(ls "$SLURM_DIR/.snakemake/slurm_logs" | tr '\n' ' ')"
fi
# Outputs that record a SLURM job id (the mini workflow's do) must name one of ours.
"$PY" "$REPO/tests/cluster/compare_runs.py" --slurm "$SLURM_DIR" "${COMPARE_ARGS[@]}" \
  --slurm-job-ids "$(IFS=,; echo "${SUBMITTED[*]}")" --run-id "$RUN_ID"
cmp_rc=$?
[ "$cmp_rc" = 0 ] || die 5 "SLURM outputs differ from the local run or the reference (compare_runs.py exit $cmp_rc)"

# --- 8. profile behaviour: GPU request in the sbatch call (refused by this GPU-less node), and a
#        job that fails once is resubmitted once (retries: 1) ---------------------------------------
t=$(date +%s)
GPU_DIR="$SCRATCH/probes"
copy_tree "$GPU_DIR"
(cd "$GPU_DIR" && limited "$PY" -m snakemake --profile workflow/profiles/slurm --snakefile tests/cluster/mini/Snakefile \
   "${NOACCT_ARGS[@]}" --slurm-keep-successful-logs --verbose \
   results/runs/mini/gpu_probe.txt results/runs/mini/retry_probe.txt) >"$SCRATCH/log/snakemake-probes.log" 2>&1
gpu_rc=$?
PROBE_LOG="$SCRATCH/log/snakemake-probes.log"
gpu_call="$(grep -m1 -oE 'sbatch call: sbatch .*--comment rule_gpu_probe.*' "$PROBE_LOG" | sed 's/ --wrap=.*//; s/^sbatch call: //')"
log "GPU rule's sbatch call: ${gpu_call:-<none>}"
grep -q -- '--gpus=1' <<<"$gpu_call" || die 1 "the GPU rule's sbatch call lacks --gpus=1"
[ -e "$GPU_DIR/results/runs/mini/gpu_probe.txt" ] && die 1 "the GPU rule ran on a node without GPUs"
[ "$gpu_rc" != 0 ] || die 1 "snakemake reported success although the GPU rule cannot run here"
log "SLURM's answer to it: $(grep -m1 -oE "sbatch: error: [^'\\]*" "$PROBE_LOG" || echo '<none>')"
[ -s "$GPU_DIR/results/runs/mini/retry_probe.txt" ] || die 1 "retry_probe did not succeed on its second attempt"
grep -q '^attempt=2 slurm_job_id=[0-9]' "$GPU_DIR/results/runs/mini/retry_probe.txt" \
  || die 1 "retry_probe's output is not from a second attempt under SLURM: $(cat "$GPU_DIR/results/runs/mini/retry_probe.txt")"
n_retry_jobs="$(grep -cE 'submitted with SLURM jobid .*rule_retry_probe' "$PROBE_LOG")"
log "retry_probe: failed under SLURM on attempt 1, resubmitted, $(cat "$GPU_DIR/results/runs/mini/retry_probe.txt") ($n_retry_jobs submissions)"
if [ "$WORKFLOW" = repo ]; then
  # The project's rules under a cuda config: a dry run lists their gpu resource.
  (cd "$GPU_DIR" && limited "$PY" -m snakemake --profile workflow/profiles/slurm --configfile workflow/config/test_tiny.yaml \
     --config device=cuda --dry-run --forceall) >"$SCRATCH/log/snakemake-gpu-dryrun.log" 2>&1 \
    || { tail -20 "$SCRATCH/log/snakemake-gpu-dryrun.log" >&2; die 1 "dry run with device=cuda failed"; }
  grep -qE 'gpu=1|gpu: 1' "$SCRATCH/log/snakemake-gpu-dryrun.log" \
    || die 1 "with device=cuda the project's rules declare no gpu resource (dry run)"
  log "dry run with device=cuda: $(grep -cE 'gpu=1' "$SCRATCH/log/snakemake-gpu-dryrun.log") job(s) carry gpu=1"
  # ... and submitted for real: the Q* tables of the CPU sweep are reused, so only the per-run jobs
  # (one group job) go to sbatch, which must carry --gpus=<runs in the group> and be refused here.
  mkdir -p "$GPU_DIR/results" && cp -a "$SLURM_DIR/results/data" "$GPU_DIR/results/"
  (cd "$GPU_DIR" && limited "$PY" -m snakemake --profile workflow/profiles/slurm --configfile workflow/config/test_tiny.yaml \
     --config device=cuda "${NOACCT_ARGS[@]}" --cores "$NCPU" --retries 0 --verbose --until fqi_run) \
     >"$SCRATCH/log/snakemake-gpu-project.log" 2>&1
  gpu_rc=$?
  proj_call="$(grep -m1 -oE 'sbatch call: sbatch .*' "$SCRATCH/log/snakemake-gpu-project.log" | sed 's/ --wrap=.*//; s/^sbatch call: //')"
  log "the project's GPU runs, sbatch call: ${proj_call:-<none>}"
  grep -qE -- '--gpus=[0-9]+' <<<"$proj_call" || die 1 "the project's GPU runs are submitted without --gpus"
  [ "$gpu_rc" != 0 ] && ! ls "$GPU_DIR"/results/runs/fqi/*.csv >/dev/null 2>&1 \
    || die 1 "the project's GPU runs ran on a node without GPUs"
fi
timing probes $(( $(date +%s) - t ))
log "all checks passed"
exit 0
