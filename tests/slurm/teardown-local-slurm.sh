#!/usr/bin/env bash
# Stop the single-node SLURM cluster started by setup-local-slurm.sh (by PID, never by name).
# --purge also removes job state and logs. Packages stay installed.
# slurm.conf is removed too (setup writes it again): with a configuration that names a stopped
# controller, every `scontrol` call waits ~9 s for it, and snakemake-executor-plugin-slurm calls
# `scontrol show config` when it is imported, i.e. at every Snakemake start.
set -uo pipefail
scancel --user=root >/dev/null 2>&1 || true
for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
  if [ -s "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
done
rm -f /etc/slurm/slurm.conf
if [ "${1:-}" = "--purge" ]; then
  rm -rf /var/spool/slurmctld/* /var/spool/slurmd/* /var/log/slurm/*
fi
echo "teardown-local-slurm: stopped" >&2
