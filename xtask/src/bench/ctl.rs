//! The bench's end of the workload control socket (protocol in
//! xtask/src/bin/pingpong/main.rs): `ready PID` →, ← `go`, `result JSON` →,
//! then the bench closes the connection, which lets the workload exit. The
//! workload waits for that close so the bench can read tracer state while
//! the traced process still exists.

use std::{
    io::{BufRead as _, BufReader, ErrorKind, Write as _},
    os::unix::net::{UnixListener, UnixStream},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::proc::Proc;

pub struct Listener {
    inner: UnixListener,
    pub path: PathBuf,
}

impl Listener {
    pub fn bind(dir: &Path) -> Result<Self> {
        let path = dir.join("ctl.sock");
        let _ = std::fs::remove_file(&path);
        let inner =
            UnixListener::bind(&path).with_context(|| format!("binding {}", path.display()))?;
        // Non-blocking so a workload (or a tracer wrapping it) that dies
        // before connecting is noticed instead of hanging the bench.
        inner
            .set_nonblocking(true)
            .context("non-blocking listener")?;
        Ok(Listener { inner, path })
    }

    /// Accept the next workload and read its `ready PID`. Fails if `watch`
    /// exits first or nothing connects within `timeout`.
    pub fn accept_ready(&self, watch: &mut Proc, timeout: Duration) -> Result<Conn> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.inner.accept() {
                Ok((stream, _)) => return Conn::ready(stream, deadline),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e).context("accepting the workload"),
            }
            if let Some(status) = watch.poll()? {
                bail!(
                    "{} exited ({status}) before the workload started{}",
                    watch.label,
                    watch.stderr_tail()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "the workload did not start within {timeout:?}{}",
                    watch.stderr_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// A workload's result line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outcome {
    pub ops: u64,
    pub secs: f64,
    pub switches: u64,
    /// CPU seconds the workload itself used.
    pub cpu_secs: f64,
    /// CPU the rest of the host used meanwhile (not the workload, not the
    /// tracer), in % of one core: how disturbed this run was.
    pub foreign_pct: f64,
}

impl Outcome {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.secs
    }

    pub fn switches_per_sec(&self) -> f64 {
        self.switches as f64 / self.secs
    }
}

pub struct Conn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    pub pid: u32,
}

impl Conn {
    fn ready(stream: UnixStream, deadline: Instant) -> Result<Conn> {
        stream
            .set_nonblocking(false)
            .context("blocking control socket")?;
        let writer = stream.try_clone().context("cloning the control socket")?;
        let mut conn = Conn {
            reader: BufReader::new(stream),
            writer,
            pid: 0,
        };
        let line = conn.line(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        )?;
        conn.pid = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .with_context(|| format!("expected `ready PID` from the workload, got {line:?}"))?;
        Ok(conn)
    }

    pub fn go(&mut self) -> Result<()> {
        self.writer
            .write_all(b"go\n")
            .context("sending go to the workload")
    }

    pub fn result(&mut self, timeout: Duration) -> Result<Outcome> {
        let line = self.line(timeout)?;
        let json = line
            .strip_prefix("result ")
            .with_context(|| format!("expected a result, got {line:?}"))?;
        let v: serde_json::Value =
            serde_json::from_str(json).context("parsing the workload's result")?;
        let num = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_f64)
                .with_context(|| format!("result without {k}"))
        };
        let out = Outcome {
            ops: num("ops")? as u64,
            secs: num("secs")?,
            switches: num("switches")? as u64,
            cpu_secs: num("cpu_secs")?,
            foreign_pct: 0.0,
        };
        if out.secs <= 0.0 || out.ops == 0 {
            bail!("the workload did no work ({json})");
        }
        Ok(out)
    }

    fn line(&mut self, timeout: Duration) -> Result<String> {
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout))
            .context("socket timeout")?;
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => bail!("the workload closed its control socket (did it fail?)"),
            Ok(_) => Ok(line.trim_end().to_string()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                bail!("no word from the workload within {timeout:?}")
            }
            Err(e) => Err(e).context("reading from the workload"),
        }
    }
}
