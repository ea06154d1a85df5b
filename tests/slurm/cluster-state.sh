# Sourced by setup-local-slurm.sh and teardown-local-slurm.sh: who started the local cluster
# and who uses it. State lives in /run (gone after a reboot, like the daemons):
#   $STATE/started         the user id of the setup that started the daemons (absent: not ours)
#   $STATE/users/<id>      "<pid> <start time>" of each registered user's process
# Every change happens under an exclusive flock, so two test runs never decide at once.
STATE=/run/balint-local-slurm
USER_ID=""
USER_PID=""

parse_user_args() { # [--user ID] [--pid PID] [other arguments are kept in EXTRA_ARGS]
  EXTRA_ARGS=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --user) USER_ID=$2; shift 2 ;;
      --pid) USER_PID=$2; shift 2 ;;
      *) EXTRA_ARGS+=("$1"); shift ;;
    esac
  done
  USER_PID=${USER_PID:-$PPID}
  USER_ID=${USER_ID:-ppid-$PPID}
  case "$USER_ID" in */* | .* | "") echo "bad --user '$USER_ID'" >&2; exit 2 ;; esac
}

take_state_lock() { # held until the script exits (the kernel drops it with the process)
  install -d -m 0755 "$STATE" "$STATE/users"
  # A caller may hold the lock itself around several calls (tests/test_slurm.py does).
  [ "${BALINT_SLURM_STATE_LOCK_HELD:-}" = 1 ] && return 0
  exec 9>"$STATE/lock"
  flock -w 300 9
}

alive() { # alive PIDFILE: the process exists and is not a zombie
  [ -s "$1" ] || return 1
  local pid stat; pid=$(cat "$1"); stat=$(ps -o stat= -p "$pid" 2>/dev/null || true)
  [ -n "$stat" ] && [ "${stat#Z}" = "$stat" ]
}

port_listeners() { # port_listeners PORT: pids of the processes listening on TCP PORT (by socket)
  local hex inode pids=""
  hex=$(printf '%04X' "$1")
  for inode in $(awk -v h=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == h {print $10}' \
                   /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
    pids="$pids $(find /proc/[0-9]*/fd -lname "socket:\[$inode\]" 2>/dev/null | cut -d/ -f3 | sort -u)"
  done
  echo $pids
}

port_free() { # port_free PORT: nothing listens on it
  ! awk -v h=":$(printf '%04X' "$1")" '$4 == "0A" && substr($2, length($2) - 4) == h {f=1}
                                       END {exit !f}' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

wait_for() { # wait_for SECONDS COMMAND...: until COMMAND succeeds (status 1 when it never did)
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

gone() { # gone PID...: none of the processes exists any more (zombies count as gone)
  local pid stat
  for pid in "$@"; do
    stat=$(ps -o stat= -p "$pid" 2>/dev/null || true)
    [ -z "$stat" ] || [ "${stat#Z}" != "$stat" ] || return 1
  done
}

controller_answers() { # the controller in /run/slurmctld.pid is alive, owns port 6817 and answers
  alive /run/slurmctld.pid || return 1
  case " $(port_listeners 6817) " in *" $(cat /run/slurmctld.pid) "*) ;; *) return 1 ;; esac
  timeout 5 scontrol ping 2>/dev/null | grep -q " is UP"
}

record_daemon() { # record_daemon PIDFILE: remember "<pid> <start time>" of the daemon we started
  # (a daemon removes its own pid file when it exits, also one a newer daemon wrote meanwhile)
  local pid; pid=$(cat "$1")
  install -d -m 0755 "$STATE/daemons"
  echo "$pid $(start_time "$pid")" > "$STATE/daemons/$(basename "$1" .pid)"
}

recorded_daemons() { # pids of the recorded daemons still running (same start time)
  local entry pid started pids=""
  for entry in "$STATE"/daemons/*; do
    [ -e "$entry" ] || continue
    read -r pid started < "$entry" || true
    if [ -n "$pid" ] && [ "$(start_time "$pid" 2>/dev/null)" = "$started" ]; then
      pids="$pids $pid"
    fi
  done
  echo $pids
}

start_time() { # start_time PID: clock ticks since boot (a reused pid has another one)
  [ -r "/proc/$1/stat" ] || return 1
  sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f20
}

cluster_running() { # a controller of ours by pid file, or any controller that answers
  alive /run/slurmctld.pid && return 0
  [ -s /etc/slurm/slurm.conf ] && timeout 10 scontrol ping 2>/dev/null | grep -q " is UP"
}

register_user() {
  local started; started=$(start_time "$USER_PID") || started=gone
  echo "$USER_PID $started" > "$STATE/users/$USER_ID"
}

live_users() { # number of registered users whose process still runs (dead ones are removed)
  local n=0 entry pid started
  for entry in "$STATE"/users/*; do
    [ -e "$entry" ] || continue
    read -r pid started < "$entry" || true
    if [ -n "$pid" ] && [ "$(start_time "$pid" 2>/dev/null)" = "$started" ]; then
      n=$((n + 1))
    else
      rm -f "$entry"
    fi
  done
  echo "$n"
}

step_daemons() { # pids of the slurmstepd processes serving job steps on this node: the owners
  # of the step sockets /var/spool/slurmd/<host>_<job>.<step> (found by socket, not by name)
  local inode pids=""
  for inode in $(awk '$8 ~ "^/var/spool/slurmd/" {print $7}' /proc/net/unix); do
    pids="$pids $(find /proc/[0-9]*/fd -lname "socket:\[$inode\]" 2>/dev/null \
                  | cut -d/ -f3 | sort -u)"
  done
  echo $pids
}

with_descendants() { # with_descendants PID...: the pids and all their descendants
  local all="$*" frontier="$*" next
  while [ -n "$frontier" ]; do
    next=$(ps -e -o pid=,ppid= | awk -v p=" $frontier " 'index(p, " " $2 " ") {print $1}')
    all="$all $next"; frontier=$(echo $next)
  done
  echo $all
}
