//! Kernel-side diagnostics through aya-log at info level: quiet unless the
//! user asks for `-v`. Every such condition is also counted in `DIAG`.

use aya_ebpf::EbpfContext;
use aya_log_ebpf::info;
use tracer_common::diag;

use crate::maps::count;

#[inline(always)]
pub fn unexpected<C: EbpfContext>(ctx: &C, program: &str, err: i32) {
    count(diag::PROGRAM_ERROR);
    info!(ctx, "{}: unexpected error {}", program, err);
}
