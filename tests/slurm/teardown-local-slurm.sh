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
# (a controller that is gone cannot cancel anything: scancel would only wait for it, ~20 s)
if controller_answers; then scancel --user=root >/dev/null 2>&1 || true; fi
# Job steps whose controller went away wait for it forever (slurmstepd and the job's processes):
# found through their step sockets, with their descendants, before anything is stopped.
steps=$(step_daemons)
steps=${steps:+$(with_descendants $steps)}
# The daemons by pid file and as setup recorded them (a stopping daemon removes its pid file,
# also one a newer daemon wrote); returns only once they are gone and their ports are free, so
# the next setup never starts a daemon that finds the port taken and exits.
daemons="$(recorded_daemons)"
for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
  if alive "$pidfile"; then daemons="$daemons $(cat "$pidfile")"; fi
done
daemons=$(echo $daemons | tr ' ' '\n' | sort -u | tr '\n' ' ')
for pid in $daemons; do kill "$pid" 2>/dev/null || true; done
for pid in $steps; do kill -9 "$pid" 2>/dev/null || true; done
if [ -n "$daemons" ] && ! wait_for 30 gone $daemons; then
  log "still running after 30 s, killed: $daemons"
  for pid in $daemons; do kill -9 "$pid" 2>/dev/null || true; done
  wait_for 10 gone $daemons || log "still running: $daemons"
fi
rm -rf /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid "$STATE/daemons"
wait_for 10 port_free 6817 || log "port 6817 still in use"
wait_for 10 port_free 6818 || log "port 6818 still in use"
rm -f /var/spool/slurmd/"$(hostname -s)"_*
rm -f /etc/slurm/slurm.conf "$STATE/started"
if [ "${EXTRA_ARGS[0]:-}" = "--purge" ]; then
  rm -rf /var/spool/slurmctld/* /var/spool/slurmd/* /var/log/slurm/*
fi
log "stopped"
