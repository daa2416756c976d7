//! `GET /metrics` over HTTP/1.1 on one std thread: a scrape every few
//! seconds needs no async stack. One connection at a time, each with short
//! timeouts and a bounded request, so a slow or hostile client holds the
//! endpoint for at most a few seconds and never grows our memory.

use std::{
    io::{self, Read as _, Write as _},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use super::{Format, Metrics};
use crate::error::{Error, Result};

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// A scrape's request line and headers fit easily; anything longer is refused.
const MAX_REQUEST: usize = 8 * 1024;
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// `--listen`: `PORT` (localhost only), `HOST:PORT` or `[V6]:PORT`. Binding
/// every interface takes an explicit address (`0.0.0.0:9464`).
pub fn parse_listen(s: &str) -> Result<SocketAddr> {
    let s = s.trim();
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    // `localhost:PORT` and other names: resolved once, here.
    let bad = || {
        Error::Usage(format!(
            "--listen `{s}`: expected PORT, HOST:PORT or [IPV6]:PORT (e.g. 9464, \
             127.0.0.1:9464, [::1]:9464)"
        ))
    };
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || host.contains(':') || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    std::net::ToSocketAddrs::to_socket_addrs(s)
        .map_err(|e| Error::Usage(format!("--listen `{s}`: cannot resolve `{host}`: {e}")))?
        .next()
        .ok_or_else(bad)
}

/// The running endpoint; dropping it stops the thread.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own. If that
        // fails (a firewall on loopback?), leave the thread: it exits at the
        // next connection, and joining it could hang the caller.
        let wake = SocketAddr::new(wake_ip(self.addr.ip()), self.addr.port());
        if TcpStream::connect_timeout(&wake, IO_TIMEOUT).is_ok()
            && let Some(t) = self.thread.take()
        {
            let _ = t.join();
        }
    }
}

/// An unspecified bind address is reached on loopback of its family.
fn wake_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    }
}

/// Binds `addr` now (a bad address is an error before anything else
/// starts) and answers scrapes on a thread of its own.
pub fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<Server> {
    let listener = TcpListener::bind(addr).map_err(|source| Error::Listen { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| Error::Listen { addr, source })?;
    let stop = Arc::new(AtomicBool::new(false));
    let thread = std::thread::Builder::new()
        .name("metrics-http".into())
        .spawn({
            let stop = stop.clone();
            move || accept_loop(&listener, &metrics, &stop)
        })
        .map_err(|e| Error::Other(anyhow::anyhow!("cannot start the metrics thread: {e}")))?;
    tracing::info!("metrics: serving http://{bound}/metrics");
    Ok(Server {
        addr: bound,
        stop,
        thread: Some(thread),
    })
}

fn accept_loop(listener: &TcpListener, metrics: &Metrics, stop: &AtomicBool) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match conn {
            Ok(stream) => {
                if let Err(e) = answer(stream, metrics) {
                    tracing::debug!("metrics: connection dropped: {e}");
                }
            }
            // EMFILE and friends: back off instead of spinning.
            Err(e) => {
                tracing::debug!("metrics: accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Request {
    Metrics { head: bool, format: Format },
    NotFound,
    MethodNotAllowed,
    Bad,
}

/// The request line of a complete header block.
pub(super) fn route(head: &[u8]) -> Request {
    let Some(line) = head
        .split(|b| *b == b'\n')
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
    else {
        return Request::Bad;
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Request::Bad;
    };
    if !version.starts_with("HTTP/1.") {
        return Request::Bad;
    }
    let path = target.split('?').next().unwrap_or_default();
    let format = negotiate(head);
    match (method, path) {
        ("GET", "/metrics") => Request::Metrics {
            head: false,
            format,
        },
        ("HEAD", "/metrics") => Request::Metrics { head: true, format },
        ("GET" | "HEAD", _) => Request::NotFound,
        _ => Request::MethodNotAllowed,
    }
}

/// OpenMetrics unless the `Accept` header names `text/plain` and not
/// OpenMetrics (a client that knows only the classic format); `*/*` or no
/// header gets OpenMetrics.
fn negotiate(head: &[u8]) -> Format {
    let text = String::from_utf8_lossy(head);
    let accept = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("accept"))
        .map(|(_, v)| v.to_ascii_lowercase());
    match accept {
        Some(v) if v.contains("text/plain") && !v.contains("application/openmetrics-text") => {
            Format::PrometheusText
        }
        _ => Format::OpenMetrics,
    }
}

fn answer(mut stream: TcpStream, metrics: &Metrics) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let request = match read_head(&mut stream)? {
        Some(head) => route(&head),
        None => Request::Bad,
    };
    let (status, content_type, body) = match request {
        Request::Metrics { format, .. } => {
            // Our own CPU and memory as of this scrape (two small /proc reads).
            if let Err(e) = metrics.refresh_self() {
                tracing::debug!("metrics: /proc/self: {e}");
            }
            ("200 OK", format.content_type(), metrics.encode_as(format))
        }
        Request::NotFound => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "starvetrace serves /metrics only\n".to_string(),
        ),
        Request::MethodNotAllowed => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "GET /metrics\n".to_string(),
        ),
        Request::Bad => (
            "400 Bad Request",
            "text/plain; charset=utf-8",
            "bad or oversized request\n".to_string(),
        ),
    };
    let allow = if request == Request::MethodNotAllowed {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(header.as_bytes())?;
    if !matches!(request, Request::Metrics { head: true, .. }) {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()?;
    if request == Request::Bad {
        linger(&mut stream);
    }
    Ok(())
}

/// Closing with unread input makes the kernel send a reset, which can
/// destroy the answer before the client reads it: end our side, then
/// discard a bounded amount of what the client still sends.
fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let mut chunk = [0u8; 4096];
    let mut left = 16 * MAX_REQUEST;
    while left > 0 {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// Reads up to the blank line ending the headers; `None` when the client
/// sends more than [`MAX_REQUEST`] bytes or closes first.
fn read_head(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            return Ok(Some(buf));
        }
        if buf.len() > MAX_REQUEST {
            return Ok(None);
        }
    }
}
