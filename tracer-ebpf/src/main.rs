//! starvetrace's kernel side. One module per hook family; every program is a
//! thin wrapper over a `try_*` function that returns `Result` and never panics.
#![no_std]
#![no_main]

mod books;
mod config;
mod fault;
mod log;
mod maps;
mod memcg;
mod sched;
mod task;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects any reachable panic path, so this is never run.
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
