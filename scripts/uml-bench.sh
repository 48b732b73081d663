#!/usr/bin/env bash
# Runs `efs-fuse bench` inside a User-Mode Linux guest (see scripts/uml-run.sh
# and internal/umltest), where the kernel has an NFS client: the fuse and
# kernel paths side by side, on the same local target, in the same run.
# Its figures are a UML guest's (one virtual CPU, every system call
# intercepted): compare them only as ratios within one run.
#
#   scripts/uml-bench.sh [efs-fuse bench flags...]   (root; default: --rounds 3)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
go build -o bin/efs-fuse ./cmd/efs-fuse
out=$(mktemp -d /tmp/efs-fuse-uml-bench.XXXXXX)
trap 'rm -rf "$out"' EXIT
args=("$@")
((${#args[@]})) || args=(--rounds 3)
{
	printf 'cd %q\n' "$root"
	printf 'exec env TMPDIR=/var/tmp %q bench --quiet --workdir /var/tmp' "$root/bin/efs-fuse"
	printf ' %q' "${args[@]}"
	printf '\n'
} >"$out/job.sh"
TMPDIR=/dev/shm timeout "${UML_BENCH_TIMEOUT:-3600}" /usr/bin/linux.uml mem=2048M ro rootfstype=hostfs rootflags=/ \
	init="$root/scripts/uml-run.sh" UMLTEST_OUT="$out" uml_dir="$out" con0=fd:0,fd:1 con=null quiet \
	</dev/null >"$out/console.log" 2>&1 || true
if [ ! -f "$out/status" ]; then
	echo "uml-bench: the guest did not finish; console:" >&2
	tail -20 "$out/console.log" >&2
	exit 1
fi
echo "efs-fuse bench in a User-Mode Linux guest (figures valid only as ratios within this run):"
cat "$out/output.log"
exit "$(cat "$out/status")"
