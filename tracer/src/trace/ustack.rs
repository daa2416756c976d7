//! User-space stacks (`--user-stacks`): read back from the `USTACKS` map
//! when first seen, placed in their process's file mappings (path,
//! build-id, load address from /proc/<pid>/maps, read then, while the
//! process exists), and named at the end of the trace with blazesym: from
//! the live process (`Source::Process`: ELF symbols, DWARF where present,
//! Rust demangling), or, when it has exited, from each file by path and
//! file offset, used only if its build-id is still the one recorded.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    rc::Rc,
    time::{Duration, Instant},
};

use aya::maps::{MapData, StackTraceMap};
use blazesym::{
    Pid,
    symbolize::{
        Input, Symbolized, Symbolizer,
        source::{Elf, Process, Source},
    },
};

use crate::model::flame::UserSymbols;

/// Outermost frames of a whole thread stack: glibc's thread and process
/// entries (a stack that ends elsewhere lost its root frames).
pub const ENTRY_FRAMES: &[&str] = &[
    "_start",
    "__libc_start_main",
    "__libc_start_call_main",
    "__libc_start_main_impl",
    "clone",
    "clone3",
    "__clone",
    "__clone3",
    "start_thread",
];

/// Processes whose mappings are remembered (cgroup targets can have many).
const MAX_PROCS: usize = 256;
/// A stack with an address outside every known mapping re-reads the
/// process's maps, at most this often (a JIT or a stray address would
/// otherwise re-read them for every new stack).
const REREAD_EVERY: Duration = Duration::from_millis(200);

/// One executable file mapping of a process.
#[derive(Debug, PartialEq, Eq)]
struct Module {
    start: u64,
    end: u64,
    /// File offset of `start`.
    offset: u64,
    path: PathBuf,
    build_id: Option<Vec<u8>>,
}

struct ProcMaps {
    modules: Vec<Rc<Module>>,
    read_at: Instant,
}

/// One frame, placed: its address and, if file-backed, the file and offset.
struct Frame {
    addr: u64,
    module: Option<(Rc<Module>, u64)>,
}

pub struct UserStacks {
    map: StackTraceMap<MapData>,
    procs: HashMap<u32, ProcMaps>,
    /// Innermost frame first; `None` when the id could not be read.
    stacks: HashMap<(u32, i32), Option<Vec<Frame>>>,
    /// Frame names after `symbolize`, innermost first.
    names: HashMap<(u32, i32), Vec<String>>,
    summary: UserSymbols,
}

/// The executable file mappings listed in a /proc/<pid>/maps text.
fn parse_maps(text: &str) -> Vec<(u64, u64, u64, String)> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (range, perms, offset) = (f.next()?, f.next()?, f.next()?);
            let (_dev, _inode) = (f.next()?, f.next()?);
            let path: Vec<&str> = f.collect();
            let path = path.join(" ");
            if !perms.contains('x') || !path.starts_with('/') {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            Some((
                u64::from_str_radix(start, 16).ok()?,
                u64::from_str_radix(end, 16).ok()?,
                u64::from_str_radix(offset, 16).ok()?,
                path,
            ))
        })
        .collect()
}

impl UserStacks {
    pub fn new(map: StackTraceMap<MapData>) -> Self {
        Self {
            map,
            procs: HashMap::new(),
            stacks: HashMap::new(),
            names: HashMap::new(),
            summary: UserSymbols::default(),
        }
    }

    /// Read the executable mappings of `tgid` now, with each file's
    /// build-id read through `map_files` (the very file mapped, even if the
    /// path has been replaced since).
    fn read_maps(&mut self, tgid: u32) {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{tgid}/maps")) else {
            self.summary.maps_unreadable += 1;
            return;
        };
        let known: Vec<Rc<Module>> = self
            .procs
            .get(&tgid)
            .map(|p| p.modules.clone())
            .unwrap_or_default();
        let modules = parse_maps(&text)
            .into_iter()
            .map(|(start, end, offset, path)| {
                let path = PathBuf::from(path);
                if let Some(m) = known
                    .iter()
                    .find(|m| m.start == start && m.end == end && m.path == path)
                {
                    return m.clone();
                }
                let live = format!("/proc/{tgid}/map_files/{start:x}-{end:x}");
                let build_id = blazesym::helper::read_elf_build_id(Path::new(&live))
                    .or_else(|_| blazesym::helper::read_elf_build_id(&path))
                    .ok()
                    .flatten()
                    .map(|b| b.to_vec());
                Rc::new(Module {
                    start,
                    end,
                    offset,
                    path,
                    build_id,
                })
            })
            .collect();
        self.procs.insert(
            tgid,
            ProcMaps {
                modules,
                read_at: Instant::now(),
            },
        );
    }

    fn place(&self, tgid: u32, addr: u64) -> Option<(Rc<Module>, u64)> {
        let m = self
            .procs
            .get(&tgid)?
            .modules
            .iter()
            .find(|m| (m.start..m.end).contains(&addr))?;
        Some((m.clone(), addr - m.start + m.offset))
    }

    /// Read back and place the user stacks first seen since the last call,
    /// while their processes still exist (the collector calls this after
    /// every drain).
    pub fn learn(&mut self, new: Vec<(u32, i32)>) {
        for (tgid, id) in new {
            let Ok(stack) = self.map.get(&(id as u32), 0) else {
                self.stacks.insert((tgid, id), None);
                continue;
            };
            let addrs: Vec<u64> = stack.frames().iter().map(|f| f.ip).collect();
            if !self.procs.contains_key(&tgid) && self.procs.len() >= MAX_PROCS {
                self.summary.procs_over_cap += 1;
            } else {
                let stale = self
                    .procs
                    .get(&tgid)
                    .is_none_or(|p| p.read_at.elapsed() >= REREAD_EVERY);
                if stale && addrs.iter().any(|&a| self.place(tgid, a).is_none()) {
                    self.read_maps(tgid);
                }
            }
            let frames = addrs
                .iter()
                .map(|&addr| Frame {
                    addr,
                    module: self.place(tgid, addr),
                })
                .collect();
            self.stacks.insert((tgid, id), Some(frames));
        }
    }

    /// Frame names of a stack after `symbolize`, innermost first.
    pub fn frame_names(&self, tgid: u32, id: i32) -> Option<&Vec<String>> {
        self.names.get(&(tgid, id))
    }

    pub fn summary(&self) -> UserSymbols {
        self.summary.clone()
    }

    /// Name every frame of every stack read back: per process, from the
    /// live process if it still runs, else from its files by path.
    pub fn symbolize(&mut self) {
        let symbolizer = Symbolizer::builder()
            .enable_code_info(true)
            .enable_inlined_fns(true)
            .enable_demangling(true)
            .build();
        let mut tgids: Vec<u32> = self.stacks.keys().map(|k| k.0).collect();
        tgids.sort_unstable();
        tgids.dedup();
        for tgid in tgids {
            let keys: Vec<(u32, i32)> = self
                .stacks
                .iter()
                .filter(|(k, v)| k.0 == tgid && v.is_some())
                .map(|(k, _)| *k)
                .collect();
            self.summary.stacks += keys.len() as u64;
            let named = if alive(tgid) {
                self.summary.via_process += 1;
                self.name_from_process(&symbolizer, tgid, &keys)
            } else {
                self.summary.via_files += 1;
                self.name_from_files(&symbolizer, &keys)
            };
            for (key, frames) in named {
                self.names.insert(key, frames);
            }
        }
    }

    /// Addresses to symbolize: a return address points after its call, so
    /// every frame but the innermost is looked up one byte earlier.
    fn lookup_addrs(frames: &[Frame]) -> Vec<u64> {
        frames
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if i == 0 {
                    f.addr
                } else {
                    f.addr.saturating_sub(1)
                }
            })
            .collect()
    }

    fn name_from_process(
        &mut self,
        symbolizer: &Symbolizer,
        tgid: u32,
        keys: &[(u32, i32)],
    ) -> Vec<((u32, i32), Vec<String>)> {
        let src = Source::Process(Process::new(Pid::from(tgid)));
        let mut out = Vec::new();
        for key in keys {
            let Some(Some(frames)) = self.stacks.get(key) else {
                continue;
            };
            let addrs = Self::lookup_addrs(frames);
            let syms = symbolizer.symbolize(&src, Input::AbsAddr(&addrs)).ok();
            let names = frames
                .iter()
                .enumerate()
                .flat_map(|(i, f)| {
                    let sym = syms.as_ref().and_then(|s| s.get(i));
                    name(&mut self.summary, sym, f)
                })
                .collect();
            out.push((*key, names));
        }
        out
    }

    fn name_from_files(
        &mut self,
        symbolizer: &Symbolizer,
        keys: &[(u32, i32)],
    ) -> Vec<((u32, i32), Vec<String>)> {
        // Whether each file still is the one that was mapped.
        let mut usable: HashMap<*const Module, bool> = HashMap::new();
        let mut out = Vec::new();
        for key in keys {
            let Some(Some(frames)) = self.stacks.get(key) else {
                continue;
            };
            let mut names = Vec::new();
            for (i, f) in frames.iter().enumerate() {
                let sym = match &f.module {
                    Some((m, off)) => {
                        let ok = *usable.entry(Rc::as_ptr(m)).or_insert_with(|| {
                            m.build_id.is_none()
                                || blazesym::helper::read_elf_build_id(&m.path)
                                    .ok()
                                    .flatten()
                                    .is_some_and(|b| Some(b.to_vec()) == m.build_id)
                        });
                        if ok {
                            let off = if i == 0 { *off } else { off.saturating_sub(1) };
                            let src = Source::Elf(Elf::new(m.path.clone()));
                            symbolizer
                                .symbolize(&src, Input::FileOffset(&[off][..]))
                                .ok()
                                .and_then(|mut v| v.pop())
                        } else {
                            self.summary.frames_build_id_mismatch += 1;
                            None
                        }
                    }
                    None => None,
                };
                names.extend(name(&mut self.summary, sym.as_ref(), f));
            }
            out.push((*key, names));
        }
        out
    }
}

/// The names of one frame, innermost first: functions inlined at the
/// address, then the function itself.
fn name(summary: &mut UserSymbols, sym: Option<&Symbolized<'_>>, f: &Frame) -> Vec<String> {
    if let Some(Symbolized::Sym(s)) = sym {
        summary.frames_named += 1;
        let mut v: Vec<String> = s.inlined.iter().rev().map(|i| i.name.to_string()).collect();
        v.push(s.name.to_string());
        return v;
    }
    summary.frames_unnamed += 1;
    vec![match &f.module {
        Some((m, off)) => {
            let file = m.path.file_name().unwrap_or_default().to_string_lossy();
            format!("[{file}+{off:#x}]")
        }
        None => {
            summary.frames_unmapped += 1;
            "[unknown]".to_string()
        }
    }]
}

/// The process still exists with its memory (not a zombie).
fn alive(tgid: u32) -> bool {
    crate::sys::process_state(tgid).is_some_and(|s| !matches!(s, 'Z' | 'X'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_executable_file_mappings() {
        let text = "\
55d0c0a00000-55d0c0a20000 r--p 00000000 fe:01 123 /usr/bin/app
55d0c0a20000-55d0c0b00000 r-xp 00020000 fe:01 123 /usr/bin/app
7f00000000-7f00001000 rw-p 00000000 00:00 0
7ffd1000-7ffd3000 r-xp 00000000 00:00 0 [vdso]
7f10000000-7f10100000 r-xp 00028000 fe:01 77 /usr/lib/x86_64-linux-gnu/libc.so.6
7f20000000-7f20001000 r-xp 00000000 fe:01 78 /tmp/a b (deleted)
";
        let m = parse_maps(text);
        assert_eq!(m.len(), 3);
        assert_eq!(
            m[0],
            (
                0x55d0c0a20000,
                0x55d0c0b00000,
                0x20000,
                "/usr/bin/app".into()
            )
        );
        assert_eq!(m[2].3, "/tmp/a b (deleted)");
    }
}
