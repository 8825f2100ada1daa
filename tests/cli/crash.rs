//! Crash consistency, with Jepsen-style accounting: 20 clients register distinct users and
//! change their passwords while the server is killed outright (SIGKILL); every operation is
//! recorded as ok (a 2xx came back), failed (a 4xx, or a refused connection: nothing was
//! written) or unknown (sent, and no answer or a 5xx). After a restart on the same database, every acknowledged
//! write must be there and no failed one: a registered user signs in, with the new password
//! when the change was acknowledged, the old one when it failed, either when it is unknown.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{cli, free_addr, server_pids, start_up};

/// How an operation ended, as its client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Ok,
    Failed,
    Unknown,
}

/// One client's user: how its registration and its password change ended.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    username: String,
    registered: Seen,
    /// `None`: no change was tried.
    changed: Option<Seen>,
}

const OLD: &str = "the first passphrase";
const NEW: &str = "the second passphrase";

/// What came of a request.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The connection was refused: nothing reached the server.
    Refused,
    /// Sent (maybe in part), and no answer came.
    Silence,
    /// The status and body.
    Status(u16, String),
}

/// One request on a fresh connection.
pub(crate) async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return Answer::Refused;
    };
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    let exchange = async {
        s.write_all(req.as_bytes()).await.ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).await.ok()?;
        let status = out.get(9..12)?.parse().ok()?;
        let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
        Some(Answer::Status(status, body))
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .ok()
        .flatten()
        .unwrap_or(Answer::Silence)
}

/// A 2xx is ok; a 4xx, or a refused connection, failed (nothing was written); no answer or
/// a 5xx, unknown.
fn seen(answer: &Answer) -> Seen {
    match answer {
        Answer::Status(status, _) if (200..300).contains(status) => Seen::Ok,
        Answer::Status(status, _) if (400..500).contains(status) => Seen::Failed,
        Answer::Refused => Seen::Failed,
        _ => Seen::Unknown,
    }
}

fn credentials(username: &str, password: &str) -> String {
    format!(r#"{{"username":"{username}","password":"{password}"}}"#)
}

/// Signs in; `Some(token)` when the password was right, `None` when it was wrong. Panics on
/// any other answer: after the restart, every request must be answered.
async fn sign_in(addr: SocketAddr, ip: &str, username: &str, password: &str) -> Option<String> {
    let answer = call(
        addr,
        "POST",
        "/login",
        &[("X-Real-IP", ip)],
        &credentials(username, password),
    )
    .await;
    match answer {
        Answer::Status(200, body) => {
            let value: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            Some(value["token"].as_str().expect("a token").to_string())
        }
        Answer::Status(401, _) => None,
        other => panic!("sign-in as {username}: {other:?}"),
    }
}

/// What the writers did, shared with the test that stops them.
#[derive(Default)]
struct Writers {
    records: Mutex<Vec<Record>>,
    acknowledged: AtomicU64,
    stop: AtomicBool,
}

/// Client `i`: registers users one after another, each followed by a sign-in and a password
/// change, until told to stop. Its address for the throttles is `10.0.0.i` (the server trusts
/// the test's `X-Real-IP`), so that 20 clients from one machine are 20 clients.
async fn writer(addr: SocketAddr, prefix: String, i: usize, writers: Arc<Writers>) {
    let ip = format!("10.0.0.{i}");
    let mut k = 0;
    while !writers.stop.load(Ordering::SeqCst) {
        let username = format!("{prefix}c{i}u{k}");
        k += 1;
        let answer = call(
            addr,
            "POST",
            "/api/users",
            &[("X-Real-IP", &ip)],
            &credentials(&username, OLD),
        )
        .await;
        let refused = matches!(answer, Answer::Refused);
        let registered = seen(&answer);
        let mut record = Record {
            username: username.clone(),
            registered,
            changed: None,
        };
        if registered == Seen::Ok {
            writers.acknowledged.fetch_add(1, Ordering::SeqCst);
            let login = call(
                addr,
                "POST",
                "/login",
                &[("X-Real-IP", &ip)],
                &credentials(&username, OLD),
            )
            .await;
            if let Answer::Status(200, body) = &login {
                let value: serde_json::Value = serde_json::from_str(body).expect("JSON");
                let token = value["token"].as_str().expect("a token").to_string();
                let bearer = format!("Bearer {token}");
                let change = format!(r#"{{"current_password":"{OLD}","new_password":"{NEW}"}}"#);
                let answer = call(
                    addr,
                    "POST",
                    "/api/profile/password",
                    &[("X-Real-IP", &ip), ("Authorization", &bearer)],
                    &change,
                )
                .await;
                record.changed = Some(seen(&answer));
            }
        }
        writers.records.lock().unwrap().push(record);
        if refused {
            // The server is gone (for `up`, until it is back): wait rather than spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The accounting: (ok, failed, unknown) for registrations and for password changes.
pub(crate) type Counts = ([usize; 3], [usize; 3]);

pub(crate) fn count(records: &[Record]) -> Counts {
    let slot = |s: Seen| match s {
        Seen::Ok => 0,
        Seen::Failed => 1,
        Seen::Unknown => 2,
    };
    let (mut reg, mut change) = ([0; 3], [0; 3]);
    for r in records {
        reg[slot(r.registered)] += 1;
        if let Some(c) = r.changed {
            change[slot(c)] += 1;
        }
    }
    (reg, change)
}

/// Checks every record against the restarted server at `addr`.
async fn verify(addr: SocketAddr, records: &[Record]) {
    for (n, r) in records.iter().enumerate() {
        // A distinct address per check: the sign-in throttle counts wrong passwords per
        // address, and some of these are meant to be wrong.
        let ip = format!("10.1.{}.{}", n / 250, n % 250);
        match (r.registered, r.changed) {
            (Seen::Ok, Some(Seen::Ok)) => assert!(
                sign_in(addr, &ip, &r.username, NEW).await.is_some(),
                "{}: the acknowledged new password was lost",
                r.username
            ),
            (Seen::Ok, Some(Seen::Failed) | None) => assert!(
                sign_in(addr, &ip, &r.username, OLD).await.is_some(),
                "{}: the acknowledged user (old password) was lost",
                r.username
            ),
            (Seen::Ok, Some(Seen::Unknown)) => {
                let new = sign_in(addr, &ip, &r.username, NEW).await.is_some();
                assert!(
                    new || sign_in(addr, &ip, &r.username, OLD).await.is_some(),
                    "{}: the acknowledged user was lost",
                    r.username
                );
            }
            (Seen::Failed, _) => assert!(
                sign_in(addr, &ip, &r.username, OLD).await.is_none(),
                "{}: a refused registration took effect",
                r.username
            ),
            (Seen::Unknown, _) => {}
        }
    }
}

/// Runs 20 writers against `addr` until `acked` registrations are acknowledged (or a minute
/// has gone), calls `crash`, lets the writers see it, and returns what they recorded.
pub(crate) async fn write_through_a_crash<F: std::future::Future<Output = ()>>(
    addr: SocketAddr,
    acked: u64,
    crash: F,
) -> Vec<Record> {
    let prefix = format!("k{}", fastrand::u32(..));
    let writers = Arc::new(Writers::default());
    let tasks: Vec<_> = (0..20)
        .map(|i| tokio::spawn(writer(addr, prefix.clone(), i, writers.clone())))
        .collect();
    let start = tokio::time::Instant::now();
    while writers.acknowledged.load(Ordering::SeqCst) < acked {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "only {} registrations acknowledged in a minute",
            writers.acknowledged.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    crash.await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    writers.stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    let records = writers.records.lock().unwrap().clone();
    records
}

/// `serve` on `database` on a port the system picks, trusting the test's X-Real-IP.
async fn serve(database: &str) -> crate::ChildServer {
    cli()
        .spawn_server(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database",
                database,
                "--trusted-proxy",
                "127.0.0.1",
            ],
            "application server listening",
        )
        .await
}

/// Restarts `serve` on `database` and checks `records` against it.
pub(crate) async fn verify_after_restart(database: &str, records: &[Record]) {
    let again = serve(database).await;
    verify(again.addr, records).await;
    again.signal("TERM").await;
    again.wait(Duration::from_secs(30)).await;
}

/// `serve` on `database`, killed with SIGKILL mid-way, restarted on the same database,
/// checked.
async fn serve_survives_sigkill(database: &str) -> Counts {
    let server = serve(database).await;
    let addr = server.addr;
    let records = write_through_a_crash(addr, 30, async {
        server.signal("KILL").await;
        let (status, _) = server.wait(Duration::from_secs(10)).await;
        assert!(!status.success());
    })
    .await;
    verify_after_restart(database, &records).await;
    count(&records)
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("switchboard_cli_crash_{}", fastrand::u32(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let database = format!("sqlite://{}", dir.join("users.db").display());
    let counts = serve_survives_sigkill(&database).await;
    println!(
        "sqlite: registrations ok/failed/unknown {:?}, password changes {:?}",
        counts.0, counts.1
    );
    assert!(counts.0[0] >= 30);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill_on_postgres() {
    let Some(url) = std::env::var("SWITCHBOARD_TEST_POSTGRES").ok() else {
        eprintln!("skipped: SWITCHBOARD_TEST_POSTGRES is not set, so acknowledged_writes_survive_sigkill_on_postgres did not run");
        return;
    };
    let counts = serve_survives_sigkill(&url).await;
    println!(
        "postgres: registrations ok/failed/unknown {:?}, password changes {:?}",
        counts.0, counts.1
    );
    assert!(counts.0[0] >= 30);
}

/// `up` with two servers on one SQLite file: one server is killed outright while writes go
/// through the balancer; `up` restarts it, and every acknowledged write is there.
#[tokio::test]
async fn acknowledged_writes_survive_a_killed_server_under_up() {
    let dir = std::env::temp_dir().join(format!("switchboard_cli_crash_up_{}", fastrand::u32(..)));
    let data = dir.join("data");
    let data_arg = data.to_str().unwrap().to_string();
    let (admin, echo) = (free_addr().await, free_addr().await);
    let up = start_up("2", &admin, &echo, &["--data", &data_arg]).await;
    let pids = server_pids(&data_arg, "server-1");
    assert_eq!(pids.len(), 1, "{pids:?}");
    let records = write_through_a_crash(up.addr, 20, async {
        let status = std::process::Command::new("kill")
            .args(["-9", &pids[0]])
            .status()
            .unwrap();
        assert!(status.success());
    })
    .await;
    // The balancer steered around the dead server, and `up` brought it back.
    let after = call(up.addr, "GET", "/healthz", &[], "").await;
    assert!(matches!(after, Answer::Status(200, _)), "{after:?}");
    up.signal("TERM").await;
    let (status, log) = up.wait(Duration::from_secs(30)).await;
    assert!(status.success(), "{log}");
    // Checked by a server of the test's own on the same file, which believes the test's
    // X-Real-IP (through `up`'s balancer, every check would come from one address and meet
    // the sign-in throttle).
    let database = format!("sqlite://{}", data.join("switchboard.db").display());
    verify_after_restart(&database, &records).await;
    let counts = count(&records);
    println!(
        "up: registrations ok/failed/unknown {:?}, password changes {:?}",
        counts.0, counts.1
    );
    let _ = std::fs::remove_dir_all(&dir);
}
