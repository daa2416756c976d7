//! Finding the peer tracers' programs; host.rs (installing them) and
//! tracers.rs (running them) both ask here.

use std::path::PathBuf;

/// `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// libbpf-tools install plain names on Debian (/usr/sbin/runqlat); other
/// distributions use a `bpf-` prefix or a private directory.
pub fn find_libbpf_tool(name: &str) -> Option<PathBuf> {
    let candidates = [
        format!("/usr/sbin/{name}"),
        format!("/usr/sbin/bpf-{name}"),
        format!("/usr/bin/bpf-{name}"),
        format!("/usr/lib/libbpf-tools/{name}"),
        format!("/usr/libexec/libbpf-tools/{name}"),
        format!("/usr/share/libbpf-tools/{name}"),
    ];
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_sh_and_not_nonsense() {
        assert!(super::which("sh").is_some());
        assert!(super::which("starvetrace-no-such-program").is_none());
        assert!(super::find_libbpf_tool("starvetrace-no-such-tool").is_none());
    }
}
