//! Goal values shared by the goal table and the sections that show them
//! (a leaf, so neither has to import the other).

pub const RSS_GOAL_MIB: f64 = 64.0;
/// Our own bound per traced or watched thread (the issue sets "bounded"):
/// every thread's books, histograms included, within 64 KiB on top.
pub const PER_THREAD_GOAL_KIB: f64 = 64.0;
pub const ATTACH_GOAL_SECS: f64 = 1.0;
/// `watch`'s own CPU while watching the lab, % of one core.
pub const WATCH_CPU_GOAL_PCT: f64 = 1.0;
