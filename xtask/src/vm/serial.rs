//! Parses the guest's data channel (ttyS1, see xtask/vm/init.sh): per-scenario
//! stdout and stderr between markers, then `VMTEST-DONE`.

use std::collections::BTreeMap;

use super::scenarios::GuestRun;

#[derive(Debug, Default)]
pub struct DataChannel {
    pub kernel: Option<String>,
    pub boot_failure: Option<String>,
    pub runs: BTreeMap<String, GuestRun>,
    /// `VMTEST-DONE` seen: every planned scenario was written out.
    pub done: bool,
}

#[derive(PartialEq)]
enum Section {
    None,
    Stdout,
    Stderr,
    Dmesg,
}

pub fn parse(text: &str) -> DataChannel {
    let mut out = DataChannel::default();
    let mut current: Option<(String, GuestRun)> = None;
    let mut section = Section::None;
    // The guest's tty turns "\n" into "\r\n".
    for line in text.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(rest) = line.strip_prefix("VMTEST-BOOT kernel=") {
            out.kernel = Some(rest.to_string());
        } else if let Some(rest) = line.strip_prefix("VMTEST-BOOT-FAIL ") {
            out.boot_failure = Some(rest.to_string());
        } else if let Some(name) = line.strip_prefix("VMTEST-BEGIN ") {
            current = Some((name.to_string(), GuestRun::default()));
            section = Section::None;
        } else if line == "VMTEST-STDOUT" {
            section = Section::Stdout;
        } else if line == "VMTEST-STDERR" {
            section = Section::Stderr;
        } else if line == "VMTEST-DMESG" {
            section = Section::Dmesg;
        } else if let Some(rest) = line.strip_prefix("VMTEST-END ") {
            if let Some((name, mut run)) = current.take() {
                run.rc = field(rest, "rc=").unwrap_or(-1.0) as i32;
                run.secs = field(rest, "secs=").unwrap_or(0.0);
                out.runs.insert(name, run);
            }
            section = Section::None;
        } else if line == "VMTEST-DONE" {
            out.done = true;
        } else if let Some((_, run)) = current.as_mut() {
            let buf = match section {
                Section::Stdout => &mut run.stdout,
                Section::Stderr => &mut run.stderr,
                Section::Dmesg => &mut run.dmesg,
                Section::None => continue,
            };
            buf.push_str(line);
            buf.push('\n');
        }
    }
    out
}

fn field(text: &str, key: &str) -> Option<f64> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_runs_with_crlf() {
        let text = "VMTEST-BOOT kernel=6.1.0-56-cloud-amd64\r\n\
                    VMTEST-BEGIN smoke\r\nVMTEST-STDOUT\r\n{\r\n  \"a\": 1\r\n}\r\n\r\n\
                    VMTEST-STDERR\r\nwarn\r\nVMTEST-END smoke rc=0 secs=4.2\r\n\
                    VMTEST-BEGIN cpu\r\nVMTEST-STDOUT\r\n\r\nVMTEST-STDERR\r\nboom\r\n\
                    VMTEST-DMESG\r\n[ 1.0] oops\r\nVMTEST-END cpu rc=6 secs=1.0\r\nVMTEST-DONE\r\n";
        let d = parse(text);
        assert!(d.done);
        assert_eq!(d.kernel.as_deref(), Some("6.1.0-56-cloud-amd64"));
        let smoke = &d.runs["smoke"];
        assert_eq!(smoke.rc, 0);
        assert_eq!(smoke.secs, 4.2);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&smoke.stdout).unwrap()["a"],
            1
        );
        assert_eq!(smoke.stderr, "warn\n");
        assert_eq!(d.runs["cpu"].rc, 6);
        assert_eq!(d.runs["cpu"].stderr, "boom\n");
        assert_eq!(d.runs["cpu"].dmesg, "[ 1.0] oops\n");
    }

    #[test]
    fn unfinished_channel_is_not_done() {
        let d = parse("VMTEST-BEGIN smoke\nVMTEST-STDOUT\n{\n");
        assert!(!d.done);
        assert!(d.runs.is_empty());
    }
}
