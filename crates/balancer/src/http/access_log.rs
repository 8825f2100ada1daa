//! The access log: a line per request on standard output, in the combined format (nginx's and
//! Apache's) or as JSON. Lines go through a bounded queue to one writer task that writes them
//! in batches, so logging costs a request a few allocations, not a system call; if the queue
//! is full (output blocked), lines are dropped and counted rather than stalling traffic.

use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

/// The line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `client - - [time] "METHOD path HTTP/x" status bytes "referer" "user-agent"`.
    Combined,
    /// One JSON object per line.
    Json,
}

/// One request, as logged.
#[derive(Debug)]
pub struct Entry {
    /// The client.
    pub client: Option<IpAddr>,
    /// When the request arrived.
    pub time: SystemTime,
    /// Method, path and query, version.
    pub method: String,
    /// The request target.
    pub target: String,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: &'static str,
    /// The status sent.
    pub status: u16,
    /// The body length, when known.
    pub bytes: Option<u64>,
    /// The Referer header.
    pub referer: Option<String>,
    /// The User-Agent header.
    pub user_agent: Option<String>,
    /// The backend that answered, if any.
    pub backend: Option<String>,
    /// Time to the answer's head.
    pub duration: Duration,
}

/// Where entries go.
#[derive(Debug, Clone)]
pub struct AccessLog {
    format: LogFormat,
    tx: mpsc::Sender<String>,
    dropped: std::sync::Arc<AtomicU64>,
}

impl AccessLog {
    /// Starts the writer task; must be called in a tokio runtime.
    pub fn start(format: LogFormat) -> AccessLog {
        let (tx, mut rx) = mpsc::channel::<String>(8192);
        tokio::task::spawn_blocking(move || {
            let stdout = std::io::stdout();
            let mut batch = Vec::with_capacity(256);
            while rx.blocking_recv().map(|line| batch.push(line)).is_some() {
                while let Ok(line) = rx.try_recv() {
                    batch.push(line);
                    if batch.len() >= 256 {
                        break;
                    }
                }
                let mut out = stdout.lock();
                for line in batch.drain(..) {
                    let _ = out.write_all(line.as_bytes());
                }
                let _ = out.flush();
            }
        });
        AccessLog {
            format,
            tx,
            dropped: Default::default(),
        }
    }

    /// Lines dropped because the output could not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Logs one request.
    pub fn log(&self, entry: &Entry) {
        let line = match self.format {
            LogFormat::Combined => combined(entry),
            LogFormat::Json => json(entry),
        };
        if self.tx.try_send(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// `[22/Nov/2026:03:25:09 +0000]` from an HTTP date (`Sun, 22 Nov 2026 03:25:09 GMT`).
fn clf_time(time: SystemTime) -> String {
    let http = httpdate::fmt_http_date(time);
    let parts: Vec<&str> = http.split(' ').collect();
    match parts.as_slice() {
        [_, day, month, year, clock, _] => format!("{day}/{month}/{year}:{clock} +0000"),
        _ => http,
    }
}

fn quoted(value: Option<&str>) -> String {
    match value {
        Some(v) => format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")),
        None => "\"-\"".into(),
    }
}

fn combined(e: &Entry) -> String {
    let client = e.client.map_or("-".into(), |c| c.to_string());
    let bytes = e.bytes.map_or("-".into(), |b| b.to_string());
    let request = format!("{} {} {}", e.method, e.target, e.version);
    format!(
        "{client} - - [{}] {} {} {bytes} {} {}\n",
        clf_time(e.time),
        quoted(Some(&request)),
        e.status,
        quoted(e.referer.as_deref()),
        quoted(e.user_agent.as_deref()),
    )
}

fn json(e: &Entry) -> String {
    let value = serde_json::json!({
        "time": httpdate::fmt_http_date(e.time),
        "client": e.client.map(|c| c.to_string()),
        "method": e.method,
        "target": e.target,
        "version": e.version,
        "status": e.status,
        "bytes": e.bytes,
        "referer": e.referer,
        "user_agent": e.user_agent,
        "backend": e.backend,
        "duration_ms": e.duration.as_secs_f64() * 1000.0,
    });
    format!("{value}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            client: Some("192.0.2.1".parse().unwrap()),
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000),
            method: "GET".into(),
            target: "/a?b=1".into(),
            version: "HTTP/1.1",
            status: 200,
            bytes: Some(12),
            referer: None,
            user_agent: Some("curl/8 \"x\"".into()),
            backend: Some("127.0.0.1:8001".into()),
            duration: Duration::from_micros(1500),
        }
    }

    #[test]
    fn combined_format() {
        assert_eq!(
            combined(&entry()),
            r#"192.0.2.1 - - [18/Nov/2026:11:06:40 +0000] "GET /a?b=1 HTTP/1.1" 200 12 "-" "curl/8 \"x\"""#.to_string() + "\n"
        );
    }

    #[test]
    fn json_format() {
        let v: serde_json::Value = serde_json::from_str(&json(&entry())).unwrap();
        assert_eq!(v["status"], 200);
        assert_eq!(v["backend"], "127.0.0.1:8001");
        assert_eq!(v["duration_ms"], 1.5);
    }
}
