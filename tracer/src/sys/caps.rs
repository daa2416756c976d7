//! The Linux capabilities the binary uses, in one place: `check_privileges`
//! enforces the ones tracing cannot start without, and `deploy/` (the
//! systemd unit, the DaemonSet) grants exactly this list, which a test in
//! xtask compares against.

/// What goes wrong without a capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Tracing cannot start (exit code 3).
    Tracing,
    /// Tracing runs, but a part of the result is missing or coarser; said
    /// as a warning at start-up.
    Results,
}

/// When a missing [`Need::Results`] capability costs anything on this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matters {
    Always,
    /// On kernels older than (major, minor).
    KernelBefore(u32, u32),
    /// When /proc/kallsyms hides addresses from readers without CAP_SYSLOG
    /// (`kptr_restrict` ≥ 1, or `perf_event_paranoid` ≥ 2).
    KallsymsHidden,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capability {
    /// As Kubernetes spells it (`BPF`).
    pub name: &'static str,
    /// As the kernel, systemd and our messages spell it (`CAP_BPF`).
    pub cap_name: &'static str,
    /// Bit in /proc/self/status `CapEff`.
    pub bit: u32,
    pub need: Need,
    pub matters: Matters,
    /// What the binary uses it for.
    pub why: &'static str,
}

/// Everything the binary uses. CAP_SYS_ADMIN is left out on purpose: it
/// stands in for BPF + PERFMON on kernels older than 5.8, and beyond that
/// only reads `/proc/<tid>/stack` at attach (the snapshot then takes causes
/// from syscall and wchan), mounts tracefs when the host has not (deploy
/// mounts it), and reads `/proc/<pid>/map_files` for `--user-stacks`.
pub const REQUIRED_CAPABILITIES: [Capability; 6] = [
    Capability {
        name: "BPF",
        cap_name: "CAP_BPF",
        bit: 39,
        need: Need::Tracing,
        matters: Matters::Always,
        why: "load the eBPF programs and create their maps",
    },
    Capability {
        name: "PERFMON",
        cap_name: "CAP_PERFMON",
        bit: 38,
        need: Need::Tracing,
        matters: Matters::Always,
        why: "attach tracepoints and perf events, take stacks, read kernel memory from the programs",
    },
    Capability {
        name: "SYS_RESOURCE",
        cap_name: "CAP_SYS_RESOURCE",
        bit: 24,
        need: Need::Results,
        matters: Matters::KernelBefore(5, 11),
        why: "raise RLIMIT_MEMLOCK for the maps on kernels before 5.11 (later ones charge the cgroup)",
    },
    Capability {
        name: "SYSLOG",
        cap_name: "CAP_SYSLOG",
        bit: 34,
        need: Need::Results,
        matters: Matters::KallsymsHidden,
        why: "read addresses in /proc/kallsyms to name kernel stack frames (hidden unless kptr_restrict=0 and perf_event_paranoid<=1); without names memory stalls cannot be told from other waits",
    },
    Capability {
        name: "SYS_PTRACE",
        cap_name: "CAP_SYS_PTRACE",
        bit: 19,
        need: Need::Results,
        matters: Matters::Always,
        why: "read a target's /proc/<tid>/syscall and wchan at attach when it runs as another user or Yama restricts ptrace",
    },
    Capability {
        name: "SYS_NICE",
        cap_name: "CAP_SYS_NICE",
        bit: 23,
        need: Need::Results,
        matters: Matters::Always,
        why: "run the ring-buffer collector and the cgroup sampler at nice -20 so a saturated host does not starve the tracer",
    },
];

/// CAP_SYS_ADMIN: accepted instead of BPF + PERFMON (kernels before 5.8).
pub const CAP_SYS_ADMIN_BIT: u32 = 21;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_bits_and_order() {
        for c in REQUIRED_CAPABILITIES {
            assert_eq!(c.cap_name, format!("CAP_{}", c.name));
        }
        let bit = |n: &str| {
            REQUIRED_CAPABILITIES
                .iter()
                .find(|c| c.name == n)
                .map(|c| c.bit)
        };
        // include/uapi/linux/capability.h
        assert_eq!(bit("BPF"), Some(39));
        assert_eq!(bit("PERFMON"), Some(38));
        assert_eq!(bit("SYSLOG"), Some(34));
        assert_eq!(bit("SYS_RESOURCE"), Some(24));
        assert_eq!(bit("SYS_NICE"), Some(23));
        assert_eq!(bit("SYS_PTRACE"), Some(19));
        // The ones tracing cannot start without come first (their order is
        // the order check_privileges names them in).
        assert_eq!(REQUIRED_CAPABILITIES[0].need, Need::Tracing);
        assert_eq!(REQUIRED_CAPABILITIES[1].need, Need::Tracing);
        assert!(
            REQUIRED_CAPABILITIES[2..]
                .iter()
                .all(|c| c.need == Need::Results)
        );
    }
}
