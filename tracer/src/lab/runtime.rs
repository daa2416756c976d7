//! The bridge-shaped program: one tokio runtime with two workers and default
//! thread names, an event loop driven by `block_on` on a std thread that
//! carries the process's own name (like zeam's swarm loop), a tokio heartbeat
//! task, an OS-thread heartbeat, a reconnect storm, and the scenario's load.

use std::{
    fs,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use tokio::sync::{Notify, mpsc, oneshot};

use super::{
    LabError, Scenario, cold,
    heartbeat::{self, Schedule, SharedRecorder},
    lock,
    memory::{self, Mapping, MemoryCounters, Rng},
    plan, pool, sidecar,
};

/// Reconnect backoffs: the field report's 5/10/20/40/80 s, scaled to ms.
pub const BACKOFF_MS: [u64; 5] = [5, 10, 20, 40, 80];
/// Peers that start reconnecting in each storm wave, and how often a wave comes.
pub const PEERS_PER_WAVE: u64 = 16;
pub const WAVE_EVERY: Duration = Duration::from_millis(1500);

#[derive(Debug, Default)]
pub struct StormCounters {
    pub waves: AtomicU64,
    pub tasks: AtomicU64,
    pub attempts: AtomicU64,
    pub events: AtomicU64,
}

/// Everything the tasks share.
#[derive(Debug)]
pub struct Ctx {
    pub scenario: Scenario,
    pub schedule: Schedule,
    /// The requested run length (blocking-pool-idle keeps its idle threads
    /// alive past it).
    pub run_for: Duration,
    pub stop: Arc<AtomicBool>,
    /// lost-wakeup: the notification nobody ever sends.
    pub never: Arc<Notify>,
    pub stall_after: Option<Duration>,
    pub data: Option<Arc<Mapping>>,
    pub lock: Option<Arc<lock::Shared>>,
    pub mem: Arc<MemoryCounters>,
    pub sidecar: Arc<sidecar::Counters>,
    pub cold: Arc<cold::Counters>,
    pub pool: Arc<pool::Pool>,
    pub storm: StormCounters,
    pub tokio_hb: SharedRecorder,
    pub loop_hb: SharedRecorder,
    pub os_hb: SharedRecorder,
}

impl Ctx {
    /// lost-wakeup: past the short healthy start, everything waits for `never`.
    fn stalled(&self) -> bool {
        self.stall_after
            .is_some_and(|after| self.schedule.origin.elapsed() >= after)
    }

    /// The little bit of synchronous work a reconnect attempt (or a swarm
    /// event) does; `scale` 1 for the storm, smaller for the event loop.
    fn work(&self, seed: u64, scale: usize) {
        match self.scenario {
            Scenario::MemoryMax => {
                if let Some(map) = &self.data {
                    let pages = plan::MAX.attempt_pages * scale;
                    std::hint::black_box(map.read_random_pages(&mut Rng::new(seed), pages));
                    self.mem
                        .pages_read
                        .fetch_add(pages as u64, Ordering::Relaxed);
                }
            }
            Scenario::MemoryHigh => memory::churn(plan::HIGH.attempt_bytes * scale, &self.mem),
            Scenario::Lock => {
                if let Some(l) = &self.lock {
                    l.touch();
                }
            }
            // The runtime's own load is light; the scenario's load is
            // elsewhere (a sidecar thread, the block_on thread, reader tasks,
            // a blocking-pool burst, burners).
            Scenario::Cpu
            | Scenario::Healthy
            | Scenario::LostWakeup
            | Scenario::SidecarMemory
            | Scenario::ColdReads
            | Scenario::BlockonMemory
            | Scenario::BlockingPoolIdle
            | Scenario::CpuAndMemory => {
                // ~20 µs of arithmetic: "a little work".
                let mut x = seed | 1;
                for _ in 0..20_000 * scale {
                    x = std::hint::black_box(
                        x.wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407),
                    );
                }
            }
        }
    }
}

/// The running program.
pub struct Bridge {
    ctx: Arc<Ctx>,
    shutdown: Option<oneshot::Sender<()>>,
    event_loop: Option<thread::JoinHandle<()>>,
    os_hb: Option<thread::JoinHandle<()>>,
    holder: Option<thread::JoinHandle<()>>,
    sidecar: Option<thread::JoinHandle<()>>,
    pub event_loop_name: String,
}

/// The sidecar each scenario runs, if any.
fn sidecar_mode(sc: Scenario) -> Option<sidecar::Mode> {
    match sc {
        Scenario::SidecarMemory => Some(sidecar::Mode::Thrash(plan::MAX)),
        Scenario::CpuAndMemory => Some(sidecar::Mode::FillAndHold(plan::FILL)),
        _ => None,
    }
}

/// The process's own name (comm), given to the event-loop thread so that its
/// comm equals the process's, as zeam's `block_on` thread is `zeam`.
fn process_comm() -> String {
    fs::read_to_string("/proc/self/comm")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "starvetrace".into())
}

pub fn start(ctx: Arc<Ctx>) -> Result<Bridge, LabError> {
    // Default thread names on purpose: the tracer must recognize tokio's own.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2).enable_all();
    if ctx.scenario == Scenario::BlockingPoolIdle {
        // Idle blocking threads stay for the whole run (default: 10 s).
        builder.thread_keep_alive(ctx.run_for + plan::POOL_KEEP_ALIVE_MARGIN);
    }
    let rt = builder.build().map_err(LabError::Runtime)?;
    let spawn_err = |what: &str, e| LabError::io(format!("starting the {what} thread"), e);

    let os_stop = ctx.stop.clone();
    let (sched, rec) = (ctx.schedule, ctx.os_hb.clone());
    let os_hb = thread::Builder::new()
        .name("os-heartbeat".into())
        .spawn(move || heartbeat::os_heartbeat(sched, rec, os_stop))
        .map_err(|e| spawn_err("OS heartbeat", e))?;

    let holder = match &ctx.lock {
        Some(l) => Some(
            lock::spawn_holder(l.clone(), ctx.stop.clone())
                .map_err(|e| spawn_err("lock holder", e))?,
        ),
        None => None,
    };

    let sidecar = match (sidecar_mode(ctx.scenario), &ctx.data) {
        (Some(mode), Some(map)) => Some(
            sidecar::spawn(mode, map.clone(), ctx.sidecar.clone(), ctx.stop.clone())
                .map_err(|e| spawn_err("memory sidecar", e))?,
        ),
        _ => None,
    };

    let (tx, rx) = oneshot::channel();
    let name = process_comm();
    let loop_ctx = ctx.clone();
    let event_loop = thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            rt.block_on(event_loop(loop_ctx, rx));
            // Workers stuck in a long poll (a fault storm) get a moment, not forever.
            rt.shutdown_timeout(Duration::from_secs(2));
        })
        .map_err(|e| spawn_err("event loop", e))?;

    Ok(Bridge {
        ctx,
        shutdown: Some(tx),
        event_loop: Some(event_loop),
        os_hb: Some(os_hb),
        holder,
        sidecar,
        event_loop_name: name,
    })
}

impl Bridge {
    /// False once the event-loop thread ended on its own (a panic).
    pub fn alive(&self) -> bool {
        self.event_loop.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Stops everything; returns notes about threads that did not stop in time.
    pub fn stop(mut self) -> Vec<String> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Vec<String> {
        let mut notes = Vec::new();
        self.ctx.stop.store(true, Ordering::Relaxed);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // The holder first: workers blocked on its lock must get free to stop.
        for (what, h) in [
            ("lock holder", self.holder.take()),
            ("memory sidecar", self.sidecar.take()),
            ("event loop", self.event_loop.take()),
            ("OS heartbeat", self.os_hb.take()),
        ] {
            let Some(h) = h else { continue };
            let deadline = Instant::now() + Duration::from_secs(5);
            while !h.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            if !h.is_finished() {
                notes.push(format!(
                    "the {what} thread did not stop within 5 s; left running"
                ));
            } else if h.join().is_err() {
                notes.push(format!("the {what} thread panicked"));
            }
        }
        notes
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        for n in self.stop_inner() {
            eprintln!("starvetrace lab: {n}");
        }
    }
}

/// A swarm event the storm reports to the event loop.
#[derive(Debug)]
struct Event {
    peer: u64,
    attempt: usize,
}

/// The `block_on` future: spawns the tasks, then handles swarm events and its
/// own tick until told to shut down.
async fn event_loop(ctx: Arc<Ctx>, mut shutdown: oneshot::Receiver<()>) {
    let (tx, mut rx) = mpsc::channel::<Event>(1024);
    let stall = ctx.stall_after.map(|d| (d, ctx.never.clone()));
    tokio::spawn(heartbeat::tokio_heartbeat(
        ctx.schedule,
        ctx.tokio_hb.clone(),
        stall,
    ));
    tokio::spawn(storm(ctx.clone(), tx));
    spawn_scenario_tasks(&ctx);

    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::from_std(ctx.schedule.first()),
        ctx.schedule.period,
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // blockon-memory: the memory work runs right here, on the block_on thread.
    let mut mem = BlockOnMemory::new(&ctx);
    let mut mem_tick = tokio::time::interval(plan::MAX.reader_every);
    mem_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = mem_tick.tick(), if mem.is_some() => {
                if let Some(m) = &mut mem {
                    m.pass(&ctx.mem);
                }
            }
            Some(ev) = rx.recv() => {
                ctx.work(ev.peer * 8 + ev.attempt as u64, 1);
                ctx.storm.events.fetch_add(1, Ordering::Relaxed);
            }
            due = tick.tick() => {
                heartbeat::record(&ctx.loop_hb, due.into_std(), Instant::now());
                if ctx.stalled() {
                    // Lost wakeup: wait for what never comes (or the end of the run).
                    tokio::select! {
                        _ = &mut shutdown => return,
                        _ = ctx.never.notified() => {}
                    }
                }
            }
        }
    }
}

/// blockon-memory's load, done synchronously by the `block_on` thread: the
/// memory-max ballast, grown a step per pass, and one memory-max reader.
struct BlockOnMemory {
    map: Arc<Mapping>,
    ballast: memory::Ballast,
    rng: Rng,
}

impl BlockOnMemory {
    fn new(ctx: &Ctx) -> Option<Self> {
        let map = ctx.data.clone()?;
        (ctx.scenario == Scenario::BlockonMemory).then(|| BlockOnMemory {
            map,
            ballast: memory::Ballast::default(),
            rng: Rng::new(0xb10c),
        })
    }

    fn pass(&mut self, counters: &MemoryCounters) {
        let p = plan::MAX;
        // The whole ballast at the first pass, as fast as memory-max's
        // ballast task grows it (8 MiB per 50 ms): one step per pass left
        // the cgroup below its limit for 40 s under the VM's slow reads, so a
        // run saw only cold reads (limit hits +0) and no memory pressure.
        while self.ballast.bytes() + p.ballast_step <= p.ballast {
            if self.ballast.grow(p.ballast_step).is_err() {
                counters.alloc_failures.fetch_add(1, Ordering::Relaxed);
                break;
            }
            counters
                .ballast_bytes
                .store(self.ballast.bytes() as u64, Ordering::Relaxed);
        }
        std::hint::black_box(self.map.read_random_pages(&mut self.rng, p.reader_pages));
        counters
            .block_on_pages_read
            .fetch_add(p.reader_pages as u64, Ordering::Relaxed);
    }
}

/// Waves of peers reconnecting with backoff, each attempt a little work.
async fn storm(ctx: Arc<Ctx>, tx: mpsc::Sender<Event>) {
    let mut wave = tokio::time::interval_at(
        tokio::time::Instant::from_std(ctx.schedule.origin + Duration::from_millis(200)),
        WAVE_EVERY,
    );
    let mut peer = 0u64;
    while !ctx.stop.load(Ordering::Relaxed) {
        wave.tick().await;
        if ctx.stalled() {
            ctx.never.notified().await;
        }
        ctx.storm.waves.fetch_add(1, Ordering::Relaxed);
        for _ in 0..PEERS_PER_WAVE {
            peer += 1;
            ctx.storm.tasks.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(reconnect(ctx.clone(), peer, tx.clone()));
        }
    }
}

async fn reconnect(ctx: Arc<Ctx>, peer: u64, tx: mpsc::Sender<Event>) {
    for (attempt, ms) in BACKOFF_MS.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(*ms)).await;
        if ctx.stop.load(Ordering::Relaxed) {
            return;
        }
        if ctx.stalled() {
            ctx.never.notified().await;
        }
        ctx.work(peer * 8 + attempt as u64, 1);
        ctx.storm.attempts.fetch_add(1, Ordering::Relaxed);
        // A full channel drops the event, as a busy swarm would.
        let _ = tx.try_send(Event { peer, attempt });
    }
}

fn spawn_scenario_tasks(ctx: &Arc<Ctx>) {
    let stop = ctx.stop.clone();
    match ctx.scenario {
        Scenario::MemoryMax => {
            let p = plan::MAX;
            tokio::spawn(memory::ballast_task(
                p.ballast,
                p.ballast_step,
                p.ballast_every,
                ctx.mem.clone(),
                stop.clone(),
            ));
            if let Some(map) = &ctx.data {
                for i in 0..p.readers {
                    tokio::spawn(memory::reader_task(
                        map.clone(),
                        0x5eed + i as u64,
                        p.reader_pages,
                        p.reader_every,
                        ctx.mem.clone(),
                        stop.clone(),
                    ));
                }
            }
        }
        Scenario::MemoryHigh => {
            let p = plan::HIGH;
            tokio::spawn(memory::ballast_task(
                p.ballast_cap,
                p.ballast_step,
                p.ballast_every,
                ctx.mem.clone(),
                stop.clone(),
            ));
            for _ in 0..p.churners {
                tokio::spawn(memory::churn_task(
                    p.churn_bytes,
                    p.churn_every,
                    ctx.mem.clone(),
                    stop.clone(),
                ));
            }
        }
        Scenario::Lock => {
            if let Some(l) = &ctx.lock {
                for _ in 0..lock::USERS {
                    tokio::spawn(lock::user_task(l.clone(), stop.clone()));
                }
            }
        }
        Scenario::ColdReads => {
            if let Some(map) = &ctx.data {
                for i in 0..plan::COLD.readers {
                    tokio::spawn(cold::reader_task(
                        map.clone(),
                        0xc01d + i as u64,
                        plan::COLD,
                        ctx.cold.clone(),
                        stop.clone(),
                    ));
                }
            }
        }
        Scenario::BlockingPoolIdle => {
            tokio::spawn(pool::burst(ctx.pool.clone(), plan::POOL_THREADS));
        }
        Scenario::Cpu
        | Scenario::Healthy
        | Scenario::LostWakeup
        | Scenario::SidecarMemory
        | Scenario::BlockonMemory
        | Scenario::CpuAndMemory => {}
    }
}
