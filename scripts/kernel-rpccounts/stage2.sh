#!/bin/sh
# In the UML guest: ganesha on a tmpfs export, the kernel client on it, mountstats saved around each phase
# (20 small files: create+write+close, stat, cat, rm; then ls -l of 1,000 entries and stat of 20 of
# them through a second mount with fresh caches).
V=6.1.176
mkdir -p /guestout; mount -t hostfs -o @WORK@/out none /guestout
exec >/guestout/log 2>&1
set -x
mount --bind /usr/lib/uml/modules/$V /usr/lib/modules/$V 2>/dev/null || { mkdir -p /usr/lib/modules/$V; mount --bind /usr/lib/uml/modules/$V /usr/lib/modules/$V; }
modprobe nfs; modprobe nfsv4
ip link set lo up; ip addr add 127.0.0.2/8 dev lo
for d in /var/log/amazon/efs /run/efs /var/run/ganesha /var/lib/nfs/ganesha /export /mnt /mnt2; do mkdir -p $d; mount -t tmpfs tmpfs $d; done
cat > /tmp/g.conf <<'C'
NFS_CORE_PARAM { Protocols = 4; NFS_Port = 2049; Bind_addr = 127.0.0.1; Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false; }
NFSV4 { Minor_Versions = 1; Graceless = true; }
EXPORT { Export_Id = 1; Path = /export; Pseudo = /; Access_Type = RW; Squash = No_Root_Squash; Protocols = 4; SecType = sys; FSAL { Name = VFS; } }
LOG { Default_Log_Level = WARN; }
C
ganesha.nfsd -F -f /tmp/g.conf -L /guestout/ganesha.log -p /tmp/g.pid &
sleep 3
mount -t nfs4 -o vers=4.1 127.0.0.1:/ /mnt || { cat /guestout/ganesha.log; poweroff -f; }
snap() { cp /proc/self/mountstats /guestout/ms.$1; }
mkdir /mnt/small
snap 0
for i in $(seq 20); do head -c 4096 /dev/zero > /mnt/small/f$i; done
snap 1-create
for i in $(seq 20); do stat /mnt/small/f$i >/dev/null; done
snap 2-stat
for i in $(seq 20); do cat /mnt/small/f$i >/dev/null; done
snap 3-read
for i in $(seq 20); do rm /mnt/small/f$i; done
snap 4-unlink
mkdir /mnt/big; cd /mnt/big; for i in $(seq 1000); do : > f$i; done; cd /
mount -t nfs4 -o vers=4.1,nosharecache 127.0.0.1:/ /mnt2
snap 5-before-ls
ls -l /mnt2/big > /dev/null
snap 6-ls
for i in $(seq 20); do stat /mnt2/big/f$i >/dev/null; done
snap 7-stat-listed
umount /mnt2; umount /mnt
kill $(cat /tmp/g.pid)
poweroff -f
