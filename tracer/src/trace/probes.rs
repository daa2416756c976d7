//! Load the eBPF object with its read-only config, attach every probe, and
//! report which attached. Required probes failing is an error; optional
//! ones are recorded as not attached, with the reason, for the report.

use aya::{
    Btf, Ebpf, EbpfLoader,
    maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf, StackTraceMap},
    programs::{
        BtfTracePoint, PerfEvent, ProgramError, TracePoint,
        perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent},
    },
};
use tracer_common::{
    agg::{AggKey, AggValue, WATCHED_WORDS},
    config::{
        Config, EXEC_NONE, EXEC_SUM_EXEC, FILTER_CGROUP, FILTER_TGID, FILTER_TGID_SET,
        RUNQ_SCHED_INFO, RUNQ_WAKEUP, USER_STACKS_OFF, USER_STACKS_ON,
    },
    diag,
    task::TaskState,
};

use super::btf::Offsets;
use crate::{
    error::{Error, Result},
    model::ProbeStatus,
};

/// The eBPF object, built by build.rs (empty if the toolchain was missing).
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracer"));

#[derive(Clone, Copy, Debug)]
pub enum Filter {
    Tgid(u32),
    Cgroup {
        id: u64,
        level: u32,
    },
    /// The processes user space puts in the `WATCHED` map (`watch`).
    TgidSet,
}

/// `watch`'s kernel-side books (see `tracer_common::agg`).
#[derive(Clone, Copy, Debug)]
pub struct Aggregate {
    /// Off-CPU intervals at least this long still go through the ring buffer.
    pub emit_min_ns: u64,
    /// Entries of the `AGG` map (thread × cause key).
    pub max_keys: u32,
}

#[derive(Clone, Debug)]
pub struct ProbeConfig {
    pub filter: Filter,
    pub stack_policy: u32,
    pub offsets: Offsets,
    /// Ring buffer size in bytes (a power of two, page multiple).
    pub ring_bytes: u32,
    pub max_threads: u32,
    /// Measure run-queue waits with a `sched_wakeup` probe, and on-CPU
    /// slices on the tracepoint clock, even where the kernel's `sched_info`
    /// and `se.sum_exec_runtime` are readable (the tracepoint view, for
    /// comparison and benchmarks).
    pub wakeup_probe: bool,
    /// Take the user-space stack wherever a kernel stack is taken.
    pub user_stacks: bool,
    /// Book in the kernel instead of sending every switch (`watch`).
    pub aggregate: Option<Aggregate>,
}

/// `USTACKS` entries with `--user-stacks` (about 1 KiB of kernel memory
/// each, allocated at load); one entry without.
pub const USER_STACK_ENTRIES: u32 = 16384;

impl ProbeConfig {
    /// The `sched_info` offsets if run-queue waits come from there.
    pub fn runq_sched_info(&self) -> Option<crate::trace::btf::SchedInfoOffsets> {
        self.offsets.sched_info.filter(|_| !self.wakeup_probe)
    }
}

pub struct Probes {
    ebpf: Ebpf,
    pub status: Vec<ProbeStatus>,
    runq_from_sched_info: bool,
    user_stacks: bool,
    aggregate: bool,
}

/// Keep the end of a verifier log: the rejection reason is at the bottom.
fn log_tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn load_error(program: &str, e: ProgramError) -> Error {
    match e {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            if io_error.raw_os_error() == Some(libc::EPERM)
                && verifier_log.to_string().trim().is_empty()
            {
                return Error::Permission {
                    what: format!("loading eBPF program `{program}`"),
                    capability: "CAP_BPF and CAP_PERFMON",
                };
            }
            Error::Verifier {
                program: program.to_string(),
                message: io_error.to_string(),
                log_tail: log_tail(&verifier_log.to_string(), 40),
            }
        }
        other => Error::Other(anyhow::Error::new(other).context(format!("loading `{program}`"))),
    }
}

/// The program `name` from the object, as its concrete type.
fn program<'a, T>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut T>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = ProgramError>,
{
    let p = ebpf
        .program_mut(name)
        .ok_or_else(|| Error::Other(anyhow::anyhow!("program `{name}` missing from the object")))?;
    p.try_into()
        .map_err(|e: ProgramError| Error::Other(anyhow::Error::new(e).context(name.to_string())))
}

impl Probes {
    pub fn load(cfg: &ProbeConfig) -> Result<Self> {
        if EBPF_OBJECT.is_empty() {
            return Err(Error::NoEbpfObject);
        }
        let (filter_mode, target_tgid, cgroup_id, cgroup_level) = match cfg.filter {
            Filter::Tgid(tgid) => (FILTER_TGID, tgid, 0, 0),
            Filter::Cgroup { id, level } => (FILTER_CGROUP, 0, id, level),
            Filter::TgidSet => (FILTER_TGID_SET, 0, 0, 0),
        };
        let si = cfg.runq_sched_info();
        let config = Config {
            filter_mode,
            target_tgid,
            cgroup_id,
            cgroup_level,
            task_pid_off: cfg.offsets.task_pid,
            task_tgid_off: cfg.offsets.task_tgid,
            stack_policy: cfg.stack_policy,
            regs_syscall_off: cfg.offsets.regs_syscall.unwrap_or(u32::MAX),
            regs_arg0_off: cfg.offsets.regs_arg0.unwrap_or(u32::MAX),
            runq_source: if si.is_some() {
                RUNQ_SCHED_INFO
            } else {
                RUNQ_WAKEUP
            },
            task_run_delay_off: si.map_or(0, |o| o.task_run_delay),
            task_last_queued_off: si.map_or(0, |o| o.task_last_queued),
            task_cfs_rq_off: si.map_or(0, |o| o.task_cfs_rq),
            cfs_rq_rq_off: si.map_or(0, |o| o.cfs_rq_rq),
            rq_clock_off: si.map_or(0, |o| o.rq_clock),
            // The same books as the run-queue waits: on-CPU, run-queue and
            // off-CPU time then agree with schedstat and add up to wall time.
            // The wakeup-probe path keeps the tracepoint clock throughout.
            exec_source: if si.is_some() {
                EXEC_SUM_EXEC
            } else {
                EXEC_NONE
            },
            task_sum_exec_off: si.map_or(0, |o| o.task_sum_exec),
            user_stacks: if cfg.user_stacks {
                USER_STACKS_ON
            } else {
                USER_STACKS_OFF
            },
            aggregate: u32::from(cfg.aggregate.is_some()),
            emit_min_ns: cfg.aggregate.map_or(0, |a| a.emit_min_ns),
        };
        let ebpf = EbpfLoader::new()
            .override_global("CONFIG", &config, true)
            .map_max_entries("EVENTS", cfg.ring_bytes)
            .map_max_entries("TASKS", cfg.max_threads)
            .map_max_entries(
                "USTACKS",
                if cfg.user_stacks {
                    USER_STACK_ENTRIES
                } else {
                    1
                },
            )
            .map_max_entries("AGG", cfg.aggregate.map_or(1, |a| a.max_keys))
            .map_max_entries("WATCHED", cfg.aggregate.map_or(1, |_| WATCHED_WORDS))
            .load(EBPF_OBJECT)
            .map_err(|e| match e {
                aya::EbpfError::MapError(aya::maps::MapError::CreateError { io_error, .. })
                    if io_error.raw_os_error() == Some(libc::EPERM) =>
                {
                    Error::Permission {
                        what: "creating eBPF maps".into(),
                        capability: "CAP_BPF",
                    }
                }
                other => Error::Other(anyhow::Error::new(other).context("loading the eBPF object")),
            })?;
        Ok(Self {
            ebpf,
            status: Vec::new(),
            runq_from_sched_info: si.is_some(),
            user_stacks: cfg.user_stacks,
            aggregate: cfg.aggregate.is_some(),
        })
    }

    /// Attach everything. Scheduler probes are required; the rest degrade.
    pub fn attach(&mut self, cpus: &[u32]) -> Result<()> {
        let btf = Btf::from_sys_fs()
            .map_err(|e| Error::Kernel(format!("cannot read kernel BTF: {e}")))?;
        for name in ["sched_switch", "sched_wakeup_new", "sched_process_exit"] {
            self.attach_btf(name, &btf)?;
        }
        if cfg!(feature = "dispatch-floor") {
            const FLOOR: &str = "bench calibration build (dispatch-floor): sched_switch returns \
                                 at once and records nothing";
            tracing::warn!("{FLOOR}");
            self.add_detail("sched_switch", FLOOR);
        }
        if self.runq_from_sched_info {
            // No wakeup probe: one program fewer on every wakeup of the host.
            self.add_detail(
                "sched_switch",
                "run-queue waits from the kernel's own sched_info and on-CPU time \
                 from its se.sum_exec_runtime (as /proc/<tid>/schedstat), so no \
                 sched_wakeup probe",
            );
        } else {
            self.attach_btf("sched_wakeup", &btf)?;
        }
        for (name, category, event) in [
            ("page_fault_user", "exceptions", "page_fault_user"),
            (
                "memcg_reclaim_begin",
                "vmscan",
                "mm_vmscan_memcg_reclaim_begin",
            ),
            ("memcg_reclaim_end", "vmscan", "mm_vmscan_memcg_reclaim_end"),
            (
                "direct_reclaim_begin",
                "vmscan",
                "mm_vmscan_direct_reclaim_begin",
            ),
            (
                "direct_reclaim_end",
                "vmscan",
                "mm_vmscan_direct_reclaim_end",
            ),
        ] {
            let result = self.attach_tracepoint(name, category, event);
            self.record_optional(name, "tracepoint", &format!("{category}:{event}"), result)?;
        }
        for (name, event) in [
            ("minor_fault", SoftwareEvent::PageFaultsMin),
            ("major_fault", SoftwareEvent::PageFaultsMaj),
        ] {
            let result = self.attach_perf(name, event, cpus);
            self.record_optional(
                name,
                "perf software event",
                &format!("{event:?} on {} CPUs", cpus.len()),
                result,
            )?;
        }
        Ok(())
    }

    /// Append `text` to the status line of the attached probe `name`.
    fn add_detail(&mut self, name: &str, text: &str) {
        if let Some(s) = self.status.iter_mut().find(|s| s.name == name) {
            s.detail.push_str("; ");
            s.detail.push_str(text);
        }
    }

    fn attach_btf(&mut self, name: &str, btf: &Btf) -> Result<()> {
        let program: &mut BtfTracePoint = program(&mut self.ebpf, name)?;
        program.load(name, btf).map_err(|e| load_error(name, e))?;
        program
            .attach()
            .map_err(|e| Error::Kernel(format!("attaching BTF tracepoint {name} failed: {e}")))?;
        self.status.push(ProbeStatus {
            name: name.to_string(),
            kind: "btf tracepoint".into(),
            attached: true,
            detail: format!("tp_btf/{name}"),
        });
        Ok(())
    }

    fn attach_tracepoint(&mut self, name: &str, category: &str, event: &str) -> Result<()> {
        let program: &mut TracePoint = program(&mut self.ebpf, name)?;
        program.load().map_err(|e| load_error(name, e))?;
        program
            .attach(category, event)
            .map_err(|e| Error::Kernel(format!("{category}:{event}: {e}")))?;
        Ok(())
    }

    fn attach_perf(&mut self, name: &str, event: SoftwareEvent, cpus: &[u32]) -> Result<()> {
        let program: &mut PerfEvent = program(&mut self.ebpf, name)?;
        program.load().map_err(|e| load_error(name, e))?;
        for &cpu in cpus {
            program
                .attach(
                    PerfEventConfig::Software(event),
                    PerfEventScope::AllProcessesOneCpu { cpu },
                    SamplePolicy::Period(1),
                    false,
                )
                .map_err(|e| Error::Kernel(format!("perf event {event:?} on CPU {cpu}: {e}")))?;
        }
        Ok(())
    }

    /// Optional probes: a verifier rejection is still fatal (it is our bug);
    /// anything else is reported and tracing goes on without it.
    fn record_optional(
        &mut self,
        name: &str,
        kind: &str,
        detail: &str,
        result: Result<()>,
    ) -> Result<()> {
        let (attached, detail) = match result {
            Ok(()) => (true, detail.to_string()),
            Err(e @ Error::Verifier { .. }) => return Err(e),
            Err(e) => {
                tracing::warn!("optional probe {name} not attached: {e}");
                (false, format!("{detail}: NOT ATTACHED: {e}"))
            }
        };
        self.status.push(ProbeStatus {
            name: name.into(),
            kind: kind.into(),
            attached,
            detail,
        });
        Ok(())
    }

    /// Runs the kernel skipped per program (`recursion_misses` in the
    /// program's fdinfo: it fired while already running on that CPU). Those
    /// events never reached us, so the report counts them as lost.
    pub fn skipped_runs(&self) -> Vec<(String, u64)> {
        use std::os::fd::{AsFd as _, AsRawFd as _};
        self.ebpf
            .programs()
            .filter_map(|(name, p)| {
                let fd = p.fd().ok()?.as_fd().as_raw_fd();
                let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
                let misses = info
                    .lines()
                    .find_map(|l| l.strip_prefix("recursion_misses:"))?
                    .trim()
                    .parse()
                    .ok()?;
                Some((name.to_string(), misses))
            })
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    pub fn take_maps(&mut self) -> Result<Maps> {
        // Kernel-side diagnostics (info level: shown with -v). Without the
        // logger they are still counted in DIAG, so this may fail quietly.
        let logger = match aya_log::EbpfLogger::init(&mut self.ebpf) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::debug!("aya-log not available: {e}");
                None
            }
        };
        let mut maps = self.take_bpf_maps()?;
        maps.logger = logger;
        Ok(maps)
    }

    fn take_bpf_maps(&mut self) -> Result<Maps> {
        let user_stacks = self.user_stacks;
        let aggregate = self.aggregate;
        let mut take = |name: &str| {
            self.ebpf
                .take_map(name)
                .ok_or_else(|| Error::Other(anyhow::anyhow!("map {name} missing from the object")))
        };
        let bad = |name: &str, e: aya::maps::MapError| {
            Error::Other(anyhow::Error::new(e).context(format!("map {name}")))
        };
        let ustacks = take("USTACKS")?;
        let ustacks = if user_stacks {
            Some(StackTraceMap::try_from(ustacks).map_err(|e| bad("USTACKS", e))?)
        } else {
            None
        };
        let watch = if aggregate {
            Some(WatchMaps {
                agg: BpfHashMap::try_from(take("AGG")?).map_err(|e| bad("AGG", e))?,
                watched: Array::try_from(take("WATCHED")?).map_err(|e| bad("WATCHED", e))?,
                control: Array::try_from(take("CONTROL")?).map_err(|e| bad("CONTROL", e))?,
            })
        } else {
            None
        };
        Ok(Maps {
            watch,
            events: RingBuf::try_from(take("EVENTS")?).map_err(|e| bad("EVENTS", e))?,
            stacks: StackTraceMap::try_from(take("STACKS")?).map_err(|e| bad("STACKS", e))?,
            ustacks,
            tasks: BpfHashMap::try_from(take("TASKS")?).map_err(|e| bad("TASKS", e))?,
            diag: PerCpuArray::try_from(take("DIAG")?).map_err(|e| bad("DIAG", e))?,
            logger: None,
        })
    }
}

pub struct Maps {
    /// `watch`'s maps, when the books are kept in the kernel.
    pub watch: Option<WatchMaps>,
    pub events: RingBuf<MapData>,
    pub stacks: StackTraceMap<MapData>,
    /// User-space stacks, with `--user-stacks`.
    pub ustacks: Option<StackTraceMap<MapData>>,
    pub tasks: BpfHashMap<MapData, u32, TaskState>,
    pub diag: PerCpuArray<MapData, u64>,
    pub logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
}

pub struct WatchMaps {
    pub agg: BpfHashMap<MapData, AggKey, AggValue>,
    /// A bitmap of tgids (`tracer_common::agg::watched_slot`).
    pub watched: Array<MapData, u64>,
    pub control: Array<MapData, u32>,
}

/// Sum every diagnostic counter over CPUs, by index.
pub fn read_diag(diag: &PerCpuArray<MapData, u64>) -> [u64; diag::COUNT as usize] {
    let mut out = [0u64; diag::COUNT as usize];
    for (i, slot) in out.iter_mut().enumerate() {
        if let Ok(values) = diag.get(&(i as u32), 0) {
            *slot = values.iter().sum();
        }
    }
    out
}

/// Every task entry the kernel holds now.
pub fn read_tasks(tasks: &BpfHashMap<MapData, u32, TaskState>) -> Vec<(u32, TaskState)> {
    tasks.iter().filter_map(|r| r.ok()).collect()
}
