#!/bin/busybox sh
# /init of the starvetrace VM test (xtask/vm/init.sh, copied verbatim into the
# initramfs by `cargo xtask vm-test`).
#
# Two serial ports: ttyS0 is the console (boot log, progress, kernel
# messages); ttyS1 is a data channel the host parses (each scenario's JSON and
# stderr between markers), so kernel messages such as an OOM kill can never
# land in the middle of a JSON document. The host decides PASS/FAIL.
#
# /vmtest/plan has one scenario per line: NAME KIND DURATION LIMIT
#   KIND smoke: `record -- CMD` on a busy loop (works without `demo`)
#   KIND demo:  `starvetrace demo --scenario NAME`
#   KIND watch: `starvetrace watch --pid` on `starvetrace lab NAME-without-watch-`
# LIMIT is a guest-side timeout in seconds, so one hung scenario is reported
# and the others still run.

/bin/busybox --install -s /bin
export PATH=/bin

fail_boot() {
	echo "VMTEST BOOT FAIL detail=$*"
	echo "VMTEST-BOOT-FAIL $*" >/dev/ttyS1
	poweroff -f
}

mount -t proc proc /proc || fail_boot "mount proc"
mount -t sysfs sysfs /sys || fail_boot "mount sysfs"
mount -t devtmpfs devtmpfs /dev || fail_boot "mount devtmpfs"
mkdir -p /tmp
mount -t tmpfs tmpfs /tmp || fail_boot "mount tmpfs on /tmp"
# devtmpfs has no /dev/shm; labs that fill shmem (POSIX shm_open) need one.
mkdir -p /dev/shm
mount -t tmpfs tmpfs /dev/shm || fail_boot "mount tmpfs on /dev/shm"
mount -t tracefs tracefs /sys/kernel/tracing || fail_boot "mount tracefs"
mount -t bpf bpf /sys/fs/bpf || fail_boot "mount bpffs"
mount -t cgroup2 none /sys/fs/cgroup || fail_boot "mount cgroup2"
echo "+memory +cpu" >/sys/fs/cgroup/cgroup.subtree_control ||
	fail_boot "enable +memory +cpu in cgroup.subtree_control"

DATA=/dev/ttyS1
[ -c "$DATA" ] || fail_boot "no data channel $DATA"

# The scratch disk (xtask/src/vm/disk.rs): ext4 on an NVMe drive, both built
# into the 6.1 cloud kernel. The initramfs and /tmp are tmpfs, whose pages
# cannot be reclaimed without swap; the labs' files (memory-max's data set)
# go to TMPDIR on this disk so the page cache is reclaimable and refaults.
# NVMe probes asynchronously: wait for the namespace to appear.
DISK=/dev/nvme0n1
i=0
while [ ! -b "$DISK" ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ -b "$DISK" ] || fail_boot "data disk $DISK did not appear within 10 s (qemu -device nvme missing?)"
mkdir -p /data
mount -t ext4 -o noatime "$DISK" /data || fail_boot "mount the data disk $DISK (ext4) on /data"
export TMPDIR=/data

echo "vmtest: kernel $(uname -r), $(nproc) cpus, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)," \
	"cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
echo "vmtest: TMPDIR=$TMPDIR on $DISK:" \
	"$(df -k /data | awk 'NR == 2 {print int($2 / 1024) " MiB, " int($4 / 1024) " MiB free"}')"
echo "VMTEST-BOOT kernel=$(uname -r)" >"$DATA"
# Start each scenario's kernel log empty (it is read with dmesg -c below).
dmesg -c >/dev/null

# Seconds since boot with two decimals (busybox date has whole seconds only).
now() { cut -d' ' -f1 /proc/uptime; }

while read -r name kind duration limit; do
	[ -n "$name" ] || continue
	case "$kind" in
	smoke)
		# A shell busy loop then `sleep 1`: on-CPU time, and a sleep whose
		# cause (nanosleep, read through the BTF-resolved pt_regs offset) and
		# state (prev_state decoding) differ between kernels. The trace ends
		# when the command exits; DURATION is only a cap, so a slow TCG host
		# cannot cut the sleep off.
		set -- starvetrace record --duration "$duration" --format json --quiet -- \
			/bin/busybox sh -c 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; sleep 1'
		;;
	demo)
		set -- starvetrace demo --scenario "$name" --duration "$duration" --format json
		;;
	watch)
		# The lab NAME-without-watch- under `watch --pid`; prints the lab's
		# result and the first bundle's trigger.json and report.json.
		set -- /bin/busybox sh -c '
			rm -rf /tmp/bundles
			starvetrace lab "$1" --duration "$2" --result /tmp/lab.json >/tmp/lab.out 2>&1 &
			lab=$!
			sleep 1
			starvetrace watch --pid "$lab" --duration $(($2 + 5)) --interval 0.5 \
				--capture 5 --evidence-dir /tmp/bundles >&2
			wait "$lab"
			b=$(ls -d /tmp/bundles/*/ 2>/dev/null | head -n 1)
			printf "{\"lab\": "; cat /tmp/lab.json || printf null
			printf ", \"trigger\": "; cat "${b}trigger.json" 2>/dev/null || printf null
			printf ", \"report\": "; cat "${b}report.json" 2>/dev/null || printf null
			printf "}\n"
		' watch "${name#watch-}" "$duration"
		;;
	*)
		echo "VMTEST-BEGIN $name" >"$DATA"
		echo "VMTEST-END $name rc=-1 secs=0 unknown kind $kind" >"$DATA"
		continue
		;;
	esac
	echo "vmtest: $name: $*"
	t0=$(now)
	timeout -s KILL "$limit" "$@" </dev/null >/tmp/out 2>/tmp/err
	rc=$?
	t1=$(now)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	{
		echo "VMTEST-BEGIN $name"
		echo "VMTEST-STDOUT"
		cat /tmp/out
		echo
		echo "VMTEST-STDERR"
		cat /tmp/err
		# What the kernel said (BPF, OOM, hung tasks) around this scenario.
		echo "VMTEST-DMESG"
		dmesg -c | tail -n 40
		echo "VMTEST-END $name rc=$rc secs=$secs"
	} >"$DATA"
	echo "VMTEST $name RAN rc=$rc secs=$secs"
	if [ "$rc" -ne 0 ]; then
		tail -n 5 /tmp/err
	fi
done </vmtest/plan

echo "VMTEST-DONE" >"$DATA"
echo "VMTEST DONE"
poweroff -f
