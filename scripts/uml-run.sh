#!/bin/sh
# PID 1 of a User-Mode Linux guest (internal/umltest boots it):
#
#   linux.uml ro rootfstype=hostfs rootflags=/ init=THIS UMLTEST_OUT=/host/dir ...
#
# The guest's root is the host's / through hostfs, read-only: a guest write
# to hostfs would land on the host's real files, as root. So stage 1 puts a
# tmpfs overlay over it and chroots into that (stage 2), where everything the
# host has installed (ganesha, mount.nfs4, the test binaries) is there to
# run and every write stays in the guest's memory. The one writable host
# directory is $UMLTEST_OUT: it holds the job (job.sh) and receives its
# output (output.log) and exit status (status). Facts and pitfalls:
# shared/KERNEL-CLIENT-TESTBED.md.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

# Always end with a power-off: PID 1 exiting panics the guest kernel.
halt() {
	sync
	/bin/busybox poweroff -f
	echo o >/proc/sysrq-trigger
}
die() {
	echo "umltest guest: $*"
	halt
}

stage1() {
	mount -n -t proc proc /proc || die "mount /proc failed"
	mount -n -t sysfs sysfs /sys || die "mount /sys failed"
	# The kernel may have mounted it already (CONFIG_DEVTMPFS_MOUNT).
	mountpoint -q /dev || mount -n -t devtmpfs devtmpfs /dev || die "mount /dev failed"
	mods=/usr/lib/uml/modules/$(uname -r)
	[ -d "$mods" ] || die "no modules for the guest kernel in $mods"
	insmod "$mods/kernel/fs/overlayfs/overlay.ko" || die "insmod overlay.ko failed"
	# /mnt is only a place to hang the tmpfs on; the overlay does not
	# see it (overlayfs does not cross mounts in its lower layer).
	mount -n -t tmpfs -o mode=0755 tmpfs /mnt || die "tmpfs for the overlay failed"
	mkdir -p /mnt/upper /mnt/work /mnt/root
	mount -n -t overlay overlay -o lowerdir=/,upperdir=/mnt/upper,workdir=/mnt/work /mnt/root ||
		die "overlay over the hostfs root failed"
	for d in proc sys dev; do
		mount -n --move "/$d" "/mnt/root/$d" || die "moving /$d into the overlay failed"
	done
	exec chroot /mnt/root /bin/sh "$0" stage2
}

stage2() {
	kver=$(uname -r)
	# Fresh, empty directories where the host's would mislead or be written:
	# its /run (ganesha's pid file, efs state, the host's watchdog),
	# efs-fuse's logs, its host key and ganesha's recovery state. The job
	# gets TMPDIR=/var/tmp, a tmpfs (ganesha's FSAL VFS cannot export an
	# overlay); /tmp stays the host's, copy-on-write, so test binaries that
	# go test left there can run.
	for d in /run /var/tmp /dev/shm /var/log/amazon/efs /var/lib/nfs/ganesha /etc/amazon/efs; do
		mkdir -p "$d" && mount -t tmpfs -o mode=0755 tmpfs "$d" || die "tmpfs on $d failed"
	done
	chmod 1777 /var/tmp /dev/shm
	mkdir -p /dev/pts /run/ganesha /run/efs /run/lock
	mount -t devpts devpts /dev/pts
	# kmod looks for modules under /usr/lib/modules/<version>; the package
	# ships them (with modules.dep) under /usr/lib/uml/modules.
	mkdir -p "/usr/lib/modules/$kver"
	mount --bind "/usr/lib/uml/modules/$kver" "/usr/lib/modules/$kver" || die "binding the modules failed"
	[ -f "/usr/lib/modules/$kver/modules.dep" ] || depmod "$kver" # writes into the overlay only
	for m in nfs nfsv4 fuse loop; do
		modprobe "$m" || echo "umltest guest: modprobe $m failed"
	done
	# Loopback only. glibc's getaddrinfo(AI_ADDRCONFIG) resolves nothing
	# without a second address on it, and ganesha then dies with "No IP
	# address found for 127.0.0.1".
	ip link set lo up
	ip addr add 127.0.0.2/8 dev lo
	hostname umltest
	mkdir -p /umltest
	mount -t hostfs -o "$UMLTEST_OUT" none /umltest || die "mounting the results directory $UMLTEST_OUT failed"
	echo started >/umltest/booted
	HOME=/root TMPDIR=/var/tmp sh /umltest/job.sh >/umltest/output.log 2>&1
	echo $? >/umltest/status
	sync
	umount /umltest
	halt
}

case "${1:-}" in
stage2) stage2 ;;
*) stage1 ;;
esac
