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
