#!/usr/bin/env bash
# A real, single-node Slurm on this machine (controller and compute daemon on localhost), to try
# the DaskRunner's SLURMCluster and the job-array scripts beside this file before a real cluster.
#
#   sudo deploy/slurm/setup_single_node.sh          # install (once), configure, start; idempotent
#   sudo deploy/slurm/setup_single_node.sh stop     # stop slurmctld, slurmd and munged
#
# What it does:
#   installs  Debian's `slurm-wlm` (slurmctld, slurmd, sbatch/squeue/sinfo...) and `munge`
#             (authentication), with apt-get, when they are missing;
#   writes    /etc/slurm/slurm.conf (one node = this host with all its cores and 90 % of its
#             memory, one partition `local`, no accounting, no cgroups: proctrack/linuxproc so
#             that it also works in containers) and a munge key if there is none;
#   starts    munged, slurmctld and slurmd unless they run already, and waits for the node to
#             be idle. State and logs go to /var/lib/slurm and /var/log/slurm.
# Needs root and Debian/Ubuntu. Not run in CI: it installs system packages and starts daemons
# as root, which a test suite must not do to the machine it runs on; it takes about a minute.
set -euo pipefail

[[ $(id -u) -eq 0 ]] || { echo "run as root (it installs packages and starts daemons)" >&2; exit 1; }

if [[ ${1:-start} == stop ]]; then
    scontrol shutdown 2>/dev/null || true      # stops slurmctld and slurmd
    [[ -f /run/munge/munged.pid ]] && kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
    exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge
fi

host=$(hostname -s)
cpus=$(nproc)
memory_mb=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)

# munge: a key shared by every node of the cluster (here, one node).
if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
install -d -o munge -g munge -m 755 /run/munge
install -d -o munge -g munge -m 700 /var/log/munge /var/lib/munge
if ! munge -n >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
    sleep 1
fi
munge -n | unmunge >/dev/null  # fails loudly if authentication does not work

install -d -o slurm -g slurm /var/lib/slurm/slurmctld /var/log/slurm /run/slurm
install -d /var/lib/slurm/slurmd
conf=$(cat <<EOF
# Written by deploy/slurm/setup_single_node.sh: one node, controller and daemon on localhost.
ClusterName=single
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${memory_mb} State=UNKNOWN
PartitionName=local Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF
)
if [[ ! -f /etc/slurm/slurm.conf ]] || [[ $(cat /etc/slurm/slurm.conf) != "$conf" ]]; then
    printf '%s\n' "$conf" > /etc/slurm/slurm.conf
    scontrol reconfigure 2>/dev/null || true  # a running controller rereads it
fi

scontrol ping >/dev/null 2>&1 || /usr/sbin/slurmctld
[[ -f /run/slurm/slurmd.pid ]] && kill -0 "$(cat /run/slurm/slurmd.pid)" 2>/dev/null || /usr/sbin/slurmd

for _ in $(seq 30); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
    case $state in
        idle*|mixed*|allocated*) sinfo; exit 0 ;;
        down*|drain*) scontrol update NodeName="$host" State=RESUME || true ;;
    esac
    sleep 2
done
echo "node $host did not become idle (state: ${state:-unknown}); see /var/log/slurm/" >&2
exit 1
