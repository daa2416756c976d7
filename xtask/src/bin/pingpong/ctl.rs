//! The workload's end of the control socket.

use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    os::unix::net::UnixStream,
};

use anyhow::{Context as _, Result, bail};

use crate::Outcome;

pub struct Ctl {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Ctl {
    pub fn connect(path: &str) -> Result<Self> {
        let stream = UnixStream::connect(path).with_context(|| format!("connecting to {path}"))?;
        let writer = stream.try_clone().context("cloning the control socket")?;
        Ok(Self {
            reader: BufReader::new(stream),
            writer,
        })
    }

    pub fn ready(&mut self) -> Result<()> {
        writeln!(self.writer, "ready {}", std::process::id()).context("sending ready")
    }

    pub fn wait_go(&mut self) -> Result<()> {
        let mut line = String::new();
        self.reader.read_line(&mut line).context("waiting for go")?;
        if line.trim() != "go" {
            bail!("expected `go` from the bench, got {line:?}");
        }
        Ok(())
    }

    pub fn result(&mut self, o: &Outcome) -> Result<()> {
        writeln!(
            self.writer,
            "result {{\"ops\":{},\"secs\":{},\"switches\":{},\"cpu_secs\":{}}}",
            o.ops, o.secs, o.switches, o.cpu_secs
        )
        .context("sending the result")
    }

    /// Block until the bench closes its end.
    pub fn wait_eof(&mut self) -> Result<()> {
        let mut sink = Vec::new();
        self.reader
            .read_to_end(&mut sink)
            .context("waiting for the bench to close")?;
        Ok(())
    }
}
