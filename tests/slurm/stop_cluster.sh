#!/usr/bin/env bash
# Stop the cluster started by tests/slurm/start_cluster.sh STATE_DIR: kill exactly the PIDs
# recorded in STATE_DIR/launch/*.pid (slurmd, slurmctld, munged, in that order), then remove
# the /etc/slurm configs the start script wrote. Safe to run twice.
#
#   tests/slurm/stop_cluster.sh STATE_DIR
set -uo pipefail

state="${1:?usage: stop_cluster.sh STATE_DIR}"
marker="culturalign-test-cluster"

stop_pid() {  # stop_pid NAME: TERM, wait up to 15 s, then KILL
    local name=$1 file="$state/launch/$1.pid" pid comm
    [[ -s $file ]] || return 0
    pid="$(cat "$file")"
    if [[ -d /proc/$pid ]]; then
        comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
        # Guard against a recycled PID: only signal the daemon we started.
        if [[ $comm == "$name" || $comm == setpriv ]]; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 75); do
                [[ -d /proc/$pid ]] || break
                sleep 0.2
            done
            if [[ -d /proc/$pid ]]; then
                kill -KILL "$pid" 2>/dev/null || true
            fi
            echo "stopped $name (pid $pid)"
        else
            echo "pid $pid is '$comm', not $name: left alone" >&2
        fi
    fi
    rm -f "$file"
}

for name in slurmd slurmctld munged; do
    stop_pid "$name"
done
# Remove the configs only if they are this cluster's (name this STATE_DIR).
state_abs="$(cd "$state" 2>/dev/null && pwd || echo "$state")"
for f in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
    if [[ -e $f ]] && grep -q "$marker" "$f" && grep -qF "$state_abs/" "$f"; then
        rm -f "$f"
    fi
done
exit 0
