//! The starvation lab: a tokio program shaped like the field report's bridge,
//! driven into each way a runtime can go silent. (Interface stub.)
