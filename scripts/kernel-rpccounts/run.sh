#!/bin/sh
# Counts the COMPOUNDs the kernel NFS client sends for the operations
# fusefs/rpccount_test.go pins, in a User-Mode Linux guest (see
# /work/shared/KERNEL-CLIENT-TESTBED.md): ganesha on a tmpfs export in the
# guest, the guest's kernel client mounting it, /proc/self/mountstats read
# around each phase. Needs root, user-mode-linux, nfs-ganesha, kmod.
# Prints one line per phase and mount: the per-operation deltas.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/kernel-rpccounts-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/out"
sed "s|@WORK@|$work|g" "$here/stage1.sh" > "$work/stage1.sh"
sed "s|@WORK@|$work|g" "$here/stage2.sh" > "$work/stage2.sh"
chmod +x "$work/stage1.sh" "$work/stage2.sh"
TMPDIR=/dev/shm timeout 300 linux.uml mem=1G ro rootfstype=hostfs rootflags=/ \
	init="$work/stage1.sh" con0=fd:0,fd:1 con=null quiet </dev/null >"$work/console.log" 2>&1 || true
if [ ! -f "$work/out/ms.7-stat-listed" ]; then
	echo "the guest did not finish; its log:" >&2
	cat "$work/out/log" "$work/console.log" >&2 || true
	exit 1
fi
python3 "$here/parse.py" "$work/out"
