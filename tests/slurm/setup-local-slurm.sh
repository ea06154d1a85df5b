#!/usr/bin/env bash
# Start a real single-node SLURM cluster on this machine (munged + slurmctld + slurmd on
# localhost, no systemd, no cgroups), for testing the workflow's SLURM profile.
# Idempotent: re-running with everything up does nothing. Needs root and apt (Debian).
# Facts and pitfalls: the comments below and README.md, "Running on a cluster (SLURM)".
#
#   setup-local-slurm.sh [--user ID] [--pid PID]
#
# Several test runs may share one machine, so the cluster has users: each setup registers ID
# (default: ppid-<caller's pid>; the caller's process PID, default the caller, tells whether the
# user is still alive), and teardown-local-slurm.sh --user ID stops the cluster only when this
# script started it and no other live user remains. A cluster this script did not start (a
# site's, or one started by hand) is used as it is: never reconfigured, never stopped.
# Prints "started", "reused" or "foreign" on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/slurm/cluster-state.sh
. "$here/cluster-state.sh"
log() { printf 'setup-local-slurm: %s\n' "$*" >&2; }

parse_user_args "$@"
if [ "$(id -u)" -ne 0 ]; then log "needs root"; exit 2; fi
take_state_lock
if [ ! -e "$STATE/started" ] && cluster_running; then
  register_user
  log "a SLURM cluster this script did not start is running: using it as it is (never stopped here)"
  echo foreign
  exit 0
fi
if [ -e "$STATE/started" ] && alive /run/slurmctld.pid; then
  outcome=reused  # another run's: checked (and mended) below, never reconfigured by hand
  log "reusing the cluster started by $(cat "$STATE/started")"
else
  outcome=started
  # Ours from here on, also if a step below fails: teardown can then stop what did start.
  echo "$USER_ID" > "$STATE/started"
fi
register_user
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
   || ! command -v munged >/dev/null || ! command -v sinfo >/dev/null; then
  log "installing slurmctld slurmd slurm-client munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

host=$(hostname -s)
if ! getent hosts "$host" >/dev/null; then echo "127.0.0.1 $host" >> /etc/hosts; fi

# munge: a key owned by munge, mode 0400; the daemon runs as the munge user.
[ -s /etc/munge/munge.key ] || mungekey --create >/dev/null 2>&1 || \
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
if ! alive /run/munge/munged.pid; then
  runuser -u munge -- /usr/sbin/munged 9>&-  # 9>&-: daemons must not hold the state lock
  wait_for 10 alive /run/munge/munged.pid
  record_daemon /run/munge/munged.pid
fi

install -d /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /etc/slurm
cpus=$(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' | head -1)
mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)
mem=$(( mem * 95 / 100 ))
conf=/etc/slurm/slurm.conf
cat > "$conf.new" <<CONF
ClusterName=localcluster
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
ReturnToService=2
MinJobAge=600
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
if ! cmp -s "$conf.new" "$conf" 2>/dev/null; then mv "$conf.new" "$conf"; else rm "$conf.new"; fi

if ! alive /run/slurmctld.pid; then
  # A controller that is still stopping holds the port: a new one would exit at once.
  if ! wait_for 30 port_free 6817; then
    log "port 6817 is still in use (pid $(port_listeners 6817)): not starting a second controller"
    exit 1
  fi
  # -c: clean job state, so a controller killed earlier does not resurrect finished jobs.
  slurmctld -c 9>&-
  if ! wait_for 30 controller_answers; then
    log "slurmctld did not come up (scontrol ping); see /var/log/slurm/slurmctld.log"
    exit 1
  fi
  record_daemon /run/slurmctld.pid
fi
if ! alive /run/slurmd.pid; then
  # Orphaned job steps from a killed run make the next job's credential "revoked".
  for _ in $(seq 1 20); do
    ls /var/spool/slurmd/"$host"_* >/dev/null 2>&1 || break
    sleep 0.5
  done
  rm -f /var/spool/slurmd/cred_state*
  if ! wait_for 30 port_free 6818; then
    log "port 6818 is still in use (pid $(port_listeners 6818)): not starting a second slurmd"
    exit 1
  fi
  slurmd 9>&-
  if ! wait_for 30 alive /run/slurmd.pid; then
    log "slurmd did not come up; see /var/log/slurm/slurmd.log"
    exit 1
  fi
  record_daemon /run/slurmd.pid
fi

for _ in $(seq 1 40); do
  state=$(sinfo -h -o %t 2>/dev/null | head -1 || true)
  case "$state" in idle|mix|alloc) break ;; esac
  sleep 0.5
done
if [ "${state:-}" = "drain" ] || [ "${state:-}" = "down" ]; then
  scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
fi
out=$(timeout 30 srun -N1 -n1 hostname 9>&-)
# Only a controller that answers now, the one in /run/slurmctld.pid, and a node that is up count.
if ! controller_answers; then
  log "the controller in /run/slurmctld.pid does not answer"; exit 1
fi
if ! wait_for 20 sh -c 'sinfo -h -o %t 2>/dev/null | grep -qxE "idle|mix|alloc"'; then
  log "node not up: $(sinfo -h -o %t 2>/dev/null | head -1)"; exit 1
fi
log "cluster $outcome: node $out, $(sinfo -h -o '%P %t %c CPUs'); $(live_users) live user(s)"
echo "$outcome"
