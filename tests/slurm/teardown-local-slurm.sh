#!/usr/bin/env bash
# Stop the single-node SLURM cluster started by setup-local-slurm.sh (by PID, never by name).
#
#   teardown-local-slurm.sh [--user ID] [--pid PID] [--purge]
#
# Unregisters user ID (default ppid-<caller's pid>, as in setup), then stops the cluster only if
# setup-local-slurm.sh started it and no other registered user is still alive: another test run
# on the machine keeps its cluster, and a cluster this script did not start is never touched.
# --purge also removes job state and logs. Packages stay installed.
# slurm.conf is removed with the cluster (setup writes it again): with a configuration that names
# a stopped controller, every `scontrol` call waits for it, and snakemake-executor-plugin-slurm
# calls `scontrol show config` when it is imported, i.e. at every Snakemake start.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/slurm/cluster-state.sh
. "$here/cluster-state.sh"
log() { printf 'teardown-local-slurm: %s\n' "$*" >&2; }

parse_user_args "$@"
if [ "$(id -u)" -ne 0 ]; then log "needs root"; exit 2; fi
take_state_lock
rm -f "$STATE/users/$USER_ID"
if [ ! -e "$STATE/started" ]; then
  log "no cluster started by setup-local-slurm.sh: nothing stopped"
  exit 0
fi
others=$(live_users)
if [ "$others" -gt 0 ]; then
  log "left running: $others other live user(s)"
  exit 0
fi
scancel --user=root >/dev/null 2>&1 || true
# Job steps whose controller went away wait for it forever (slurmstepd and the job's processes):
# found through their step sockets, with their descendants, before anything is stopped.
steps=$(step_daemons)
steps=${steps:+$(with_descendants $steps)}
for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
  if [ -s "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
done
for pid in $steps; do kill -9 "$pid" 2>/dev/null || true; done
rm -f /var/spool/slurmd/"$(hostname -s)"_*
rm -f /etc/slurm/slurm.conf "$STATE/started"
if [ "${EXTRA_ARGS[0]:-}" = "--purge" ]; then
  rm -rf /var/spool/slurmctld/* /var/spool/slurmd/* /var/log/slurm/*
fi
log "stopped"
