//! Per-scenario set-up on the calling thread, before any lab thread starts:
//! join the lab cgroups, set limits, create the data file, fork the burners.

use std::{path::PathBuf, sync::Arc};

use super::{
    LabError, Scenario,
    cgroup::{Hierarchy, LabCgroups, Layout},
    cpu::{self, Burners},
    memory::{self, Mapping},
    plan,
    stats::Sources,
};

#[derive(Debug, Default)]
pub struct Prepared {
    pub data: Option<Arc<Mapping>>,
    pub burners: Option<Burners>,
    /// The cgroup that carries the scenario's limit (or the plain lab cgroup).
    pub primary: Option<PathBuf>,
    pub sources: Sources,
}

fn unsupported(sc: Scenario, why: impl Into<String>) -> LabError {
    LabError::Unsupported {
        scenario: sc.to_string(),
        why: why.into(),
    }
}

/// The lab cgroup in `h`, created (and joined) if this run has none there yet.
fn joined(layout: &Layout, cg: &mut LabCgroups, h: Hierarchy) -> Result<PathBuf, LabError> {
    match cg.dir(h) {
        Some(d) => Ok(d.to_path_buf()),
        None => cg.join(layout, h),
    }
}

/// The cgroup2 directory for PSI on a hybrid host: nice to have, not needed.
fn join_unified_for_psi(
    layout: &Layout,
    cg: &mut LabCgroups,
    notes: &mut Vec<String>,
) -> Option<PathBuf> {
    layout.current(Hierarchy::V2)?;
    match joined(layout, cg, Hierarchy::V2) {
        Ok(d) => Some(d),
        Err(e) => {
            notes.push(format!("no cgroup2 lab cgroup, so no per-cgroup PSI: {e}"));
            None
        }
    }
}

/// The memory side of a scenario: a lab cgroup with the memory controller
/// (cgroup v2 if this cgroup's children can have it, else v1), a data file
/// of `file` bytes on disk (mapped, dropped from the page cache) and, with
/// `limit`, a hard limit (v2 `memory.max`, v1 `memory.limit_in_bytes`).
struct MemorySide {
    file: usize,
    limit: Option<usize>,
}

fn memory_side(
    sc: Scenario,
    want: MemorySide,
    layout: &Layout,
    cg: &mut LabCgroups,
    p: &mut Prepared,
    notes: &mut Vec<String>,
    interrupted: &dyn Fn() -> bool,
) -> Result<(), LabError> {
    let v2 = layout.v2_child_can_have("memory").is_ok();
    let h = if v2 {
        Hierarchy::V2
    } else if layout.current(Hierarchy::V1("memory")).is_some() {
        Hierarchy::V1("memory")
    } else {
        return Err(unsupported(
            sc,
            "no memory controller (neither cgroup v2 with memory nor v1 memory)",
        ));
    };
    let dir = joined(layout, cg, h)?;
    p.sources.unified = if v2 {
        Some(dir.clone())
    } else {
        join_unified_for_psi(layout, cg, notes)
    };
    // After the move (its pages are charged here, then dropped from the
    // cache) and before the limit (writing it under the limit would
    // throttle on writeback).
    let (map, path) = memory::data_file(sc.name(), want.file, interrupted)?;
    notes.push(format!(
        "data file: {} MiB at {} (unlinked), mapped and dropped from the page cache",
        want.file / memory::MIB,
        path.display()
    ));
    p.data = Some(Arc::new(map));
    match want.limit {
        Some(limit) => {
            let limit = limit.to_string();
            if v2 {
                cg.set(h, "memory.max", &limit)?;
                if dir.join("memory.swap.max").exists() {
                    cg.set(h, "memory.swap.max", "0")?;
                }
            } else {
                cg.set(h, "memory.limit_in_bytes", &limit)?;
                // With swap, memsw = limit keeps anon from being swapped out
                // (without swap it would only move failcnt to memsw.failcnt).
                if host_has_swap() && dir.join("memory.memsw.limit_in_bytes").exists() {
                    cg.set(h, "memory.memsw.limit_in_bytes", &limit)?;
                }
            }
        }
        None => notes.push(format!(
            "no memory limit: the lab's memory cgroup {} only counts",
            dir.display()
        )),
    }
    // The peak so far is the data file being written; restart it so the
    // reported peak is the run's (v1: any write resets; v2 memory.peak
    // is reset per opener on newer kernels only, so leave it).
    if !v2 {
        let _ = std::fs::write(dir.join("memory.max_usage_in_bytes"), "0");
    }
    p.sources.memory = Some((dir.clone(), v2));
    p.primary = Some(dir);
    Ok(())
}

/// The `cpu` scenario's side: a CPU quota on the lab cgroup (v2 `cpu.max` or
/// v1 CFS quota) and burner processes forked into it, pinned to every CPU.
fn cpu_side(
    sc: Scenario,
    layout: &Layout,
    cg: &mut LabCgroups,
    p: &mut Prepared,
    notes: &mut Vec<String>,
) -> Result<(), LabError> {
    let v2 = layout.v2_child_can_have("cpu").is_ok();
    let dir = if v2 {
        let d = joined(layout, cg, Hierarchy::V2)?;
        cg.set(
            Hierarchy::V2,
            "cpu.max",
            &format!("{} {}", cpu::QUOTA_US, cpu::PERIOD_US),
        )?;
        p.sources.unified = Some(d.clone());
        d
    } else if layout.current(Hierarchy::V1("cpu")).is_some() {
        let h = Hierarchy::V1("cpu");
        let d = joined(layout, cg, h)?;
        cg.set(h, "cpu.cfs_period_us", &cpu::PERIOD_US.to_string())?;
        cg.set(h, "cpu.cfs_quota_us", &cpu::QUOTA_US.to_string())?;
        if p.sources.unified.is_none() {
            p.sources.unified = join_unified_for_psi(layout, cg, notes);
        }
        d
    } else {
        return Err(unsupported(
            sc,
            "no cpu controller (neither cgroup v2 with cpu nor v1 cpu)",
        ));
    };
    p.sources.cpu = Some((dir.clone(), v2));
    p.primary = Some(dir);
    // Forked after the move, so the burners share the cgroup and its quota.
    let cpus = cpu::allowed_cpus();
    let burners = Burners::spawn(&cpus, cpu::PER_CPU)
        .map_err(|e| LabError::io("forking the CPU burners", e))?;
    notes.push(format!(
        "{} burner processes (pids {:?}) pinned to CPUs {cpus:?}, sharing a quota of {} µs per {} µs",
        burners.count(),
        burners.pids(),
        cpu::QUOTA_US,
        cpu::PERIOD_US
    ));
    p.burners = Some(burners);
    Ok(())
}

pub fn prepare(
    sc: Scenario,
    layout: &Layout,
    cg: &mut LabCgroups,
    notes: &mut Vec<String>,
    interrupted: &dyn Fn() -> bool,
) -> Result<Prepared, LabError> {
    let mut p = Prepared::default();
    let max = MemorySide {
        file: plan::MAX.file,
        limit: Some(plan::MAX.limit),
    };
    match sc {
        Scenario::MemoryHigh => {
            layout
                .v2_child_can_have("memory")
                .map_err(|why| unsupported(sc, format!("memory.high needs cgroup v2 with a memory controller: {why}; use memory-max here")))?;
            let dir = cg.join(layout, Hierarchy::V2)?;
            let h = plan::HIGH;
            cg.set(Hierarchy::V2, "memory.max", &h.max.to_string())?;
            cg.set(Hierarchy::V2, "memory.high", &h.high.to_string())?;
            // Without swap anon cannot go anywhere; with swap it would, and the
            // throttle would turn into swapping. Keep it deterministic.
            if dir.join("memory.swap.max").exists() {
                cg.set(Hierarchy::V2, "memory.swap.max", "0")?;
            }
            p.sources.memory = Some((dir.clone(), true));
            p.sources.unified = Some(dir.clone());
            p.primary = Some(dir);
        }
        Scenario::MemoryMax | Scenario::SidecarMemory | Scenario::BlockonMemory => {
            memory_side(sc, max, layout, cg, &mut p, notes, interrupted)?;
        }
        Scenario::ColdReads => {
            // A memory cgroup without a limit: its counters show no pressure.
            let cold = MemorySide {
                file: plan::COLD.file,
                limit: None,
            };
            memory_side(sc, cold, layout, cg, &mut p, notes, interrupted)?;
        }
        Scenario::Cpu => cpu_side(sc, layout, cg, &mut p, notes)?,
        Scenario::CpuAndMemory => {
            // Memory first: the data file is written before the quota and
            // the burners would slow it down.
            let fill = MemorySide {
                file: plan::FILL.file,
                limit: Some(plan::FILL.limit),
            };
            memory_side(sc, fill, layout, cg, &mut p, notes, interrupted)?;
            cpu_side(sc, layout, cg, &mut p, notes)?;
        }
        Scenario::LostWakeup | Scenario::Lock | Scenario::Healthy | Scenario::BlockingPoolIdle => {
            // No limit needed; a cgroup of its own still scopes PSI to the lab.
            p.sources.unified = join_unified_for_psi(layout, cg, notes);
            p.primary = p.sources.unified.clone();
        }
    }
    Ok(p)
}

fn host_has_swap() -> bool {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("SwapTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .is_some_and(|kb| kb > 0)
}
