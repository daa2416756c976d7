//! Everything one bench run measured, as the report and the goals read it.

use super::{
    attach::Attach, capacity::Capacity, cost::CostRow, host::Host, opts::Opts,
    overhead::ScenarioResult, stacks::StackCost, watch_cost::WatchCost,
};

#[derive(Clone, Debug, Default)]
pub struct Results {
    pub opts: Opts,
    pub traced: Vec<ScenarioResult>,
    pub others: Vec<ScenarioResult>,
    pub capacity: Option<Capacity>,
    pub attach: Option<Attach>,
    pub cost: Option<Vec<CostRow>>,
    pub stacks: Option<StackCost>,
    pub watch: Option<WatchCost>,
    pub host_before: Option<Host>,
    pub host_after: Option<Host>,
    pub peer_versions: Vec<String>,
    pub elapsed_secs: f64,
}
