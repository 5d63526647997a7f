#!/usr/bin/env bash
# Start a throw-away single-node SLURM cluster on this machine (root, no systemd needed).
#
#   tests/slurm/start_cluster.sh STATE_DIR [N_FAKE_GPUS]
#
# Needs: apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge
# Writes /etc/slurm/slurm.conf and /etc/slurm/gres.conf (the executor plugin's job step
# drops SLURM_CONF, so the config must sit at the default path); refuses to overwrite a
# config it did not write. Everything else (spool, state, logs, fake GPU devices, the PIDs
# of the three daemons in STATE_DIR/launch/*.pid) lives under STATE_DIR.
# Stop with tests/slurm/stop_cluster.sh STATE_DIR (kills exactly those PIDs).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
state="${1:?usage: start_cluster.sh STATE_DIR [N_FAKE_GPUS]}"
ngpus="${2:-2}"
marker="culturalign-test-cluster"
conf=/etc/slurm/slurm.conf
gres=/etc/slurm/gres.conf

fail() {
    echo "start_cluster.sh: $*" >&2
    for log in munged.out slurmctld.log slurmd.log slurmctld.out slurmd.out; do
        if [[ -s "$state/$log" ]]; then
            echo "--- $state/$log (tail)" >&2
            tail -n 20 "$state/$log" >&2
        fi
    done
    "$here/stop_cluster.sh" "$state" >&2 || true
    exit 1
}

alive() {  # alive NAME: the daemon we launched is still running
    kill -0 "$(cat "$state/launch/$1.pid")" 2>/dev/null
}

wait_for() {  # wait_for SECONDS DESCRIPTION DAEMON COMMAND...
    local limit=$1 what=$2 daemon=$3
    shift 3
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        alive "$daemon" || fail "$daemon exited while waiting for $what"
        if ((SECONDS >= deadline)); then
            fail "timed out after ${limit}s waiting for $what"
        fi
        sleep 0.2
    done
}

[[ $(id -u) -eq 0 ]] || { echo "start_cluster.sh: must run as root" >&2; exit 2; }
for tool in munged munge unmunge slurmctld slurmd scontrol sinfo sbatch squeue setpriv mknod; do
    command -v "$tool" >/dev/null || { echo "start_cluster.sh: $tool not found" >&2; exit 2; }
done
id munge >/dev/null 2>&1 || { echo "start_cluster.sh: no user 'munge'" >&2; exit 2; }
for f in "$conf" "$gres"; do
    if [[ -e $f ]] && ! grep -q "$marker" "$f"; then
        echo "start_cluster.sh: $f exists and was not written by this script; refusing" >&2
        exit 2
    fi
done
if [[ -d $state/launch ]] && compgen -G "$state/launch/*.pid" >/dev/null; then
    echo "start_cluster.sh: $state already holds a running cluster's PIDs; stop it first" >&2
    exit 2
fi

# Another cluster (or a leftover of a killed test) would answer our polls: refuse instead.
for port in 6817 6818; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "start_cluster.sh: port $port is in use (another slurmctld/slurmd?)" >&2
        exit 2
    fi
done
if [[ -s /run/munge/munged.pid ]] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null; then
    echo "start_cluster.sh: munged already runs (pid $(cat /run/munge/munged.pid))" >&2
    exit 2
fi

state="$(mkdir -p "$state" && cd "$state" && pwd)"
mkdir -p "$state/ctld" "$state/slurmd" "$state/dev" "$state/launch"
unset SLURM_CONF

# Fake GPUs: character devices with the numbers of /dev/null.
for ((i = 0; i < ngpus; i++)); do
    [[ -e $state/dev/nvidia$i ]] || mknod "$state/dev/nvidia$i" c 1 3
done

# --- munge
if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge
setpriv --reuid=munge --regid=munge --init-groups munged -F --force \
    >"$state/munged.out" 2>&1 &
echo $! >"$state/launch/munged.pid"
wait_for 20 "munged" munged bash -c 'munge -n | unmunge'

# --- slurm.conf and gres.conf
host="$(hostname -s)"
nodeline="$(slurmd -C | head -n 1)"
[[ $nodeline == NodeName=* ]] || fail "unexpected 'slurmd -C' output: $nodeline"
mkdir -p /etc/slurm
sed -e "s|@HOST@|$host|g" -e "s|@STATE@|$state|g" -e "s|@NGPUS@|$ngpus|g" \
    -e "s|@NODELINE@|$nodeline|g" "$here/slurm.conf.in" >"$conf"
sed -e "s|@HOST@|$host|g" -e "s|@STATE@|$state|g" -e "s|@LASTGPU@|$((ngpus - 1))|g" \
    "$here/gres.conf.in" >"$gres"

# --- daemons (foreground mode, backgrounded here so their PIDs are ours)
slurmctld -D -c -f "$conf" >"$state/slurmctld.out" 2>&1 &
echo $! >"$state/launch/slurmctld.pid"
wait_for 30 "slurmctld (scontrol ping)" slurmctld bash -c 'scontrol ping | grep -q "is UP"'

slurmd -D -f "$conf" >"$state/slurmd.out" 2>&1 &
echo $! >"$state/launch/slurmd.pid"
wait_for 30 "node $host idle (sinfo)" slurmd bash -c "sinfo -h -n '$host' -o %t | grep -qx idle"

for name in munged slurmctld slurmd; do
    alive "$name" || fail "$name exited during start-up"
done
echo "SLURM cluster up: node $host, $ngpus fake GPU(s), state in $state"
for name in munged slurmctld slurmd; do
    echo "$name pid $(cat "$state/launch/$name.pid")"
done
