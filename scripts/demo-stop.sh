#!/usr/bin/env bash
# Undoes scripts/demo.sh: unmount ./mnt, stop the local target.
set -uo pipefail
cd "$(dirname "$0")/.."
if mountpoint -q mnt; then bin/efs-fuse unmount mnt || bin/efs-fuse unmount --force mnt; fi
if [ -f .demo/target.pid ]; then kill "$(cat .demo/target.pid)" 2>/dev/null; rm -f .demo/target.pid; fi
echo "demo stopped (data left in .demo/export)"
