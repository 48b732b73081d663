#!/bin/sh
# PID 1 in the UML guest: stage2.sh, chrooted on a tmpfs overlay of the read-only host root.
# PID 1 in the UML guest: overlay over the read-only host root, then stage2 chrooted.
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
V=6.1.176
insmod /usr/lib/uml/modules/$V/kernel/fs/overlayfs/overlay.ko
mkdir -p /dev/shm/o; mount -t tmpfs tmpfs /dev/shm/o
mkdir -p /dev/shm/o/up /dev/shm/o/work /dev/shm/o/root
mount -t overlay overlay -o lowerdir=/,upperdir=/dev/shm/o/up,workdir=/dev/shm/o/work /dev/shm/o/root
R=/dev/shm/o/root
mount --move /proc $R/proc; mount --move /sys $R/sys; mount --move /dev $R/dev
exec chroot $R /bin/sh @WORK@/stage2.sh
