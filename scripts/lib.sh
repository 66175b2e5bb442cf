# shellcheck shell=bash
# Helpers that scripts/platform and scripts/demo share: where the local platform lives, ports
# chosen once and remembered, and background processes tracked by PID file. Sourced, never run:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# The sourcing script defines log() (writing to stderr: some helpers run inside $(...)) and
# has `set -euo pipefail` on.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PLATFORM_DIR="${PTM_PLATFORM_DIR:-$ROOT/.platform}"
RUN_DIR="$PLATFORM_DIR/run"
LOG_DIR="$PLATFORM_DIR/logs"

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

port_in_use() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port chosen once is remembered in $RUN_DIR/<name>.port, so URLs stay stable across restarts.
port_for() { # name
  local file="$RUN_DIR/$1.port"
  if [[ ! -s "$file" ]]; then free_port >"$file"; fi
  cat "$file"
}

# Called just before a service starts: when something else took its remembered port meanwhile,
# choose a new one.
claim_port() { # name
  local file="$RUN_DIR/$1.port"
  if [[ -s "$file" ]] && port_in_use "$(cat "$file")"; then
    log "port $(cat "$file") for $1 is taken by another process; choosing a new one"
    free_port >"$file"
  fi
  port_for "$1"
}

# True when the PID in <pidfile> is alive and its command line contains <needle> (a fixed
# string, not a pattern): a recycled PID that now belongs to something else is never reused or
# signalled.
pid_alive() { # pidfile needle
  [[ -s "$1" ]] || return 1
  local pid
  pid="$(head -n1 "$1")"
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  # No pipe into `grep -q`: grep exits at the first match, tr may then die of SIGPIPE, and with
  # pipefail a live process would count as gone.
  local cmdline
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ $cmdline == *"$2"* ]]
}

# Starts <command> detached (own session, no terminal), appending its output to
# $LOG_DIR/<name>.log, and records its PID in $RUN_DIR/<name>.pid.
start_daemon() { # name command...
  local name=$1
  shift
  setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/$name.pid"
}

# Stops the process recorded in $RUN_DIR/<name>.pid when it is still ours (see pid_alive):
# SIGTERM, then SIGKILL only if it is still alive after <seconds>. Removes the PID file.
stop_pidfile() { # name needle seconds
  local file="$RUN_DIR/$1.pid" pid
  if pid_alive "$file" "$2"; then
    pid="$(head -n1 "$file")"
    log "stopping $1 (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 $(($3 * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$1 did not stop within $3s; killing it"
      kill -9 "$pid" 2>/dev/null || true
    fi
  else
    log "$1 is not running"
  fi
  rm -f "$file"
}
