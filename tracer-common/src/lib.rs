//! Types and pure logic shared by the eBPF programs and user space.
//!
//! Everything that crosses the kernel/user boundary is `#[repr(C)]`, uses
//! fixed-width integers with explicit padding, and has a `const` size assert.
#![no_std]

pub mod agg;
pub mod config;
pub mod diag;
pub mod event;
pub mod state;
pub mod task;

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all of these are `#[repr(C)]`, made only of integers, with
    // explicit padding, so every bit pattern is valid.
    unsafe impl aya::Pod for crate::config::Config {}
    unsafe impl aya::Pod for crate::task::TaskState {}
    unsafe impl aya::Pod for crate::event::SwitchEvent {}
    unsafe impl aya::Pod for crate::event::ExitEvent {}
    unsafe impl aya::Pod for crate::event::ReclaimEvent {}
    unsafe impl aya::Pod for crate::event::SwitchEventUser {}
    unsafe impl aya::Pod for crate::agg::AggKey {}
    unsafe impl aya::Pod for crate::agg::AggValue {}
}
