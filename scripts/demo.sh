#!/usr/bin/env bash
# The main job on this machine, end to end: install what is needed, start the
# built-in local EFS-like mount target (nfs-ganesha behind a TLS front end with
# its own CA), mount it through efs-fuse at ./mnt, use it, print what to try.
# Run as root (FSAL VFS and a mount shared by all users need it). Stop it all
# with: make demo-stop
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (sudo make demo)"; exit 1; }
export PATH=$PATH:/usr/local/go/bin

bash .ci/install-deps
make -s build
demo=$PWD/.demo
listen=${DEMO_LISTEN:-127.0.0.1:2049}
mkdir -p "$demo/export" "$demo/state" mnt
chmod 0777 "$demo/export"

if mountpoint -q mnt; then bin/efs-fuse unmount --force mnt || true; fi
if [ -f "$demo/target.pid" ] && kill -0 "$(cat "$demo/target.pid")" 2>/dev/null; then
	kill "$(cat "$demo/target.pid")"; sleep 1
fi

setsid bin/efs-fuse local-target --export "$demo/export" --state "$demo/state" --listen "$listen" \
	--mountpoint "$PWD/mnt" >"$demo/target.log" 2>&1 </dev/null &
echo $! >"$demo/target.pid"
for _ in $(seq 100); do
	grep -q "Mount it with" "$demo/target.log" 2>/dev/null && break
	kill -0 "$(cat "$demo/target.pid")" 2>/dev/null || { cat "$demo/target.log"; exit 1; }
	sleep 0.1
done
cat "$demo/target.log"

mountcmd=$(grep -A1 "Mount it with" "$demo/target.log" | tail -1 | sed 's/^ *//; s/^efs-fuse/bin\/efs-fuse/')
echo "+ $mountcmd"
eval "$mountcmd"

echo "+ grep 'Successfully mounted' /var/log/amazon/efs/mount.log | tail -1"
grep "Successfully mounted" /var/log/amazon/efs/mount.log | tail -1
echo "+ echo hello > mnt/hello && ls -l mnt && cat $demo/export/hello"
echo "hello from efs-fuse" >mnt/hello
ls -l mnt
cat "$demo/export/hello"
grep " $PWD/mnt " /proc/mounts

cat <<EOT

efs-fuse is serving ./mnt from the local target (export: .demo/export).
Try:
  cp -r /usr/share/doc mnt/ && ls mnt/doc | head
  dd if=/dev/zero of=mnt/big bs=1M count=256 && sha256sum mnt/big .demo/export/big
  kill -USR1 \$(cat .demo/target.pid)   # cut every TLS connection: the mount carries on
  bin/efs-fuse status
Stop everything with: make demo-stop
EOT
