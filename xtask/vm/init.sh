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
# and the others still run: at LIMIT the guest dumps what is stuck (process
# states, kernel stacks, blocked tasks), kills every process but /init, and
# goes on even when the scenario cannot die (a task stuck in D state).

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
# A task in D state for 30 s gets its kernel stack logged (KERN_ERR, so it
# shows on the quiet console and in the scenario's dmesg section).
[ -w /proc/sys/kernel/hung_task_timeout_secs ] &&
	echo 30 >/proc/sys/kernel/hung_task_timeout_secs
# Past boot, the console shows warnings too: the registers and stack of a
# soft lockup or RCU stall are printed at the default level (4), which
# `quiet` hides, and a soft lockup dumps every CPU, not only its own.
echo 5 >/proc/sys/kernel/printk
[ -w /proc/sys/kernel/softlockup_all_cpu_backtrace ] &&
	echo 1 >/proc/sys/kernel/softlockup_all_cpu_backtrace

# Seconds since boot with two decimals (busybox date has whole seconds only).
now() { cut -d' ' -f1 /proc/uptime; }

# Every process but /init and kernel threads (whose args ps shows in [ ]).
# Forks of /init (this function's subshell, and busybox applets run without
# an exec, which ps shows as `{ps} ARGS-OF-INIT`) have /init's args and are
# left out too.
user_processes() {
	ps -o pid,stat,args | awk '
		{ args = $0; sub(/^ *[0-9]+ +[^ ]+ +/, "", args); sub(/^[{][^}]*[}] /, "", args) }
		NR == 1 { next }
		$1 == 1 { init = args; next }
		args ~ /^\[/ || args == init || args ~ /^(ps|awk) / { next }
		{ print }'
}

# One process's state letter (the field after "(comm) " in /proc/PID/stat);
# empty once it is gone.
state_of() {
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1
}

# What is stuck, to the console: each process with its kernel stack, then
# every blocked task (sysrq w) into the kernel log.
dump_stuck() {
	user_processes
	for p in $(user_processes | awk '{print $1}'); do
		[ -r "/proc/$p/cmdline" ] || continue
		echo "--- pid $p $(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-120)"
		cat "/proc/$p/stack" 2>/dev/null
	done
	echo w >/proc/sysrq-trigger 2>/dev/null
}

# What a scenario sends over the emulated serial port is bounded, so one that
# floods its output cannot keep the guest writing past the host's budget. A
# report is ~300 KB.
MAX_STDOUT=16777216
MAX_STDERR=262144

# FILE MAX first|last: a line saying FILE was cut, when it is over MAX bytes.
cut_note() {
	size=$(wc -c <"$1")
	[ "$size" -le "$2" ] ||
		echo "vmtest: $1 has $size bytes; only the $3 $2 are sent"
}

# Runs "$@" with stdout and stderr in /tmp/out and /tmp/err, at most LIMIT
# seconds, and sets rc. Polls instead of `timeout -s KILL`, whose wait never
# returns if the command is stuck in D state. rc is 137 after a kill, and
# 255 when the command could not be killed (then it is left behind).
run_limited() {
	limit=$1
	shift
	"$@" </dev/null >/tmp/out 2>/tmp/err &
	pid=$!
	waited=0
	while st=$(state_of "$pid") && [ -n "$st" ] && [ "$st" != Z ]; do
		if [ "$waited" -ge "$limit" ]; then
			echo "vmtest: $name: still running after ${limit}s; what is left:"
			dump_stuck
			echo "vmtest: $name: killing every process but /init"
			kill -KILL -1 2>/dev/null
			i=0
			while st=$(state_of "$pid") && [ -n "$st" ] && [ "$st" != Z ] && [ $i -lt 10 ]; do
				sleep 1
				i=$((i + 1))
			done
			if [ -n "$st" ] && [ "$st" != Z ]; then
				echo "vmtest: $name: pid $pid (state $st) did not die; left behind" |
					tee -a /tmp/err
				rc=255
				return
			fi
			echo "vmtest: $name: killed after ${limit}s (the guest's limit)" >>/tmp/err
			break
		fi
		sleep 1
		waited=$((waited + 1))
	done
	wait "$pid"
	rc=$?
}

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
	run_limited "$limit" "$@"
	t1=$(now)
	# Nothing a scenario started may outlive it (it would skew the next);
	# what did is named in its stderr, then killed.
	left=$(user_processes)
	if [ -n "$left" ]; then
		{
			echo "vmtest: processes left behind by $name (killed now):"
			echo "$left"
		} | tee -a /tmp/err
		kill -KILL -1 2>/dev/null
		sleep 1
	fi
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	{
		echo "VMTEST-BEGIN $name"
		echo "VMTEST-STDOUT"
		head -c "$MAX_STDOUT" /tmp/out
		echo
		echo "VMTEST-STDERR"
		cut_note /tmp/out "$MAX_STDOUT" first
		cut_note /tmp/err "$MAX_STDERR" last
		tail -c "$MAX_STDERR" /tmp/err
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
