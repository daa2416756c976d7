//! Kernel struct offsets from the running kernel's BTF. Rust eBPF has no
//! CO-RE, so the programs read `task_struct` fields at offsets user space
//! resolves here at start-up and passes in the read-only config.

use std::path::Path;

use btf_rs::{Btf, BtfType, Type};

use crate::error::{Error, Result};

pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offsets {
    pub task_pid: u32,
    pub task_tgid: u32,
    /// `pt_regs.orig_ax` on x86_64: the syscall number at entry. `None` on
    /// other architectures or kernels without it.
    pub regs_syscall: Option<u32>,
    /// `pt_regs.di`: the first syscall argument on x86_64.
    pub regs_arg0: Option<u32>,
    /// Where the kernel keeps each task's run-queue accounting; `None`
    /// without CONFIG_SCHED_INFO (or CONFIG_FAIR_GROUP_SCHED, which gives a
    /// task's `cfs_rq` its `rq` pointer): then a wakeup probe measures waits.
    pub sched_info: Option<SchedInfoOffsets>,
}

/// `task_struct.sched_info.{run_delay,last_queued}`, the path from a task
/// to its run queue's clock (`task_struct.se.cfs_rq->rq->clock`), and
/// `task_struct.se.sum_exec_runtime`: the kernel's own per-task books that
/// /proc/<tid>/schedstat reports (run time, run-queue wait).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedInfoOffsets {
    pub task_run_delay: u32,
    pub task_last_queued: u32,
    pub task_cfs_rq: u32,
    pub cfs_rq_rq: u32,
    pub rq_clock: u32,
    /// `task_struct.se.sum_exec_runtime`: total run time as the scheduler
    /// books it (schedstat's first field).
    pub task_sum_exec: u32,
}

fn sched_info_offsets(btf: &Btf) -> Option<SchedInfoOffsets> {
    let nested = |outer: &str, field: &str, inner: &str, member: &str| {
        Some(member_offset(btf, outer, field)? + member_offset(btf, inner, member)?)
    };
    Some(SchedInfoOffsets {
        task_run_delay: nested("task_struct", "sched_info", "sched_info", "run_delay")?,
        task_last_queued: nested("task_struct", "sched_info", "sched_info", "last_queued")?,
        task_cfs_rq: nested("task_struct", "se", "sched_entity", "cfs_rq")?,
        cfs_rq_rq: member_offset(btf, "cfs_rq", "rq")?,
        rq_clock: member_offset(btf, "rq", "clock")?,
        task_sum_exec: nested("task_struct", "se", "sched_entity", "sum_exec_runtime")?,
    })
}

pub fn load() -> Result<Offsets> {
    if !Path::new(VMLINUX_BTF).exists() {
        return Err(Error::Kernel(format!(
            "{VMLINUX_BTF} is missing: this kernel was built without BTF (CONFIG_DEBUG_INFO_BTF=y is required)"
        )));
    }
    let btf = Btf::from_file(VMLINUX_BTF)
        .map_err(|e| Error::Kernel(format!("cannot parse {VMLINUX_BTF}: {e}")))?;
    let field = |strukt: &str, member: &str| {
        member_offset(&btf, strukt, member)
            .ok_or_else(|| Error::Kernel(format!("BTF has no `struct {strukt}.{member}`")))
    };
    Ok(Offsets {
        task_pid: field("task_struct", "pid")?,
        task_tgid: field("task_struct", "tgid")?,
        regs_syscall: member_offset(&btf, "pt_regs", "orig_ax"),
        regs_arg0: member_offset(&btf, "pt_regs", "di"),
        sched_info: sched_info_offsets(&btf),
    })
}

/// Byte offset of `member` in `struct name`, looking through anonymous
/// structs and unions.
pub fn member_offset(btf: &Btf, name: &str, member: &str) -> Option<u32> {
    let types = btf.resolve_types_by_name(name).ok()?;
    types.iter().find_map(|t| match t {
        Type::Struct(s) => find_in(btf, s, member, 0),
        _ => None,
    })
}

fn find_in(btf: &Btf, s: &btf_rs::Struct, member: &str, base_bits: u32) -> Option<u32> {
    for m in &s.members {
        let bits = base_bits + m.bit_offset();
        let name = btf.resolve_name(m).unwrap_or_default();
        if name == member {
            return bits.is_multiple_of(8).then_some(bits / 8);
        }
        if name.is_empty() {
            let inner = m
                .get_type_id()
                .and_then(|id| btf.resolve_type_by_id(id).ok());
            if let Some(Type::Struct(inner) | Type::Union(inner)) = inner
                && let Some(off) = find_in(btf, &inner, member, bits)
            {
                return Some(off);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the kernel has schedstat, its BTF must give us the sched_info
    /// path; otherwise we would silently fall back to the wakeup probe.
    #[test]
    fn finds_sched_info_where_the_kernel_has_schedstat() {
        if !Path::new(VMLINUX_BTF).exists() || !Path::new("/proc/self/schedstat").exists() {
            eprintln!("skipped: no BTF or no schedstat on this kernel");
            return;
        }
        let offsets = load().expect("BTF parses");
        let si = offsets.sched_info.expect("sched_info offsets");
        assert!(si.task_run_delay != si.task_last_queued);
        assert!(si.task_sum_exec != si.task_run_delay && si.task_sum_exec != si.task_cfs_rq);
        assert!(si.task_run_delay > offsets.task_pid.min(offsets.task_tgid) / 2);
    }
}
