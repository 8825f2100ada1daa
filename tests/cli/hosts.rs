//! `up --hosts N`: servers on hosts of their own (network namespaces), sharing PostgreSQL.
//!
//! These run where network namespaces can be made (root, iproute2) and
//! `SWITCHBOARD_TEST_POSTGRES` is set; elsewhere they say that they were skipped.

use std::net::SocketAddr;
use std::time::Duration;

use switchboard_testkit::{http_get, ChildServer, PgDatabase};

use crate::crash::{call, count, verify_after_restart, write_through_a_crash, Answer};
use crate::{cli, free_addr};

/// Why namespaces cannot be made here, if they cannot.
fn no_namespaces() -> Option<String> {
    let uid = std::process::Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root".into());
    }
    match std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
    {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        Err(e) => Some(format!("no iproute2: {e}")),
    }
}

/// A database of the test's own, where hosts can be made; `None`, having said why, elsewhere.
fn hosts_database(test: &str) -> Option<PgDatabase> {
    if let Some(why) = no_namespaces() {
        eprintln!("skipped: network namespaces cannot be made here ({why}), so {test} did not run");
        return None;
    }
    PgDatabase::create(test)
}

/// `up --hosts N` on `database`, its admin API at `admin`.
async fn start_hosts(n: &str, admin: &str, database: &str) -> ChildServer {
    cli()
        .spawn_server(
            &[
                "up",
                "--hosts",
                n,
                "--database",
                database,
                "--listen",
                "127.0.0.1:0",
                "--admin",
                admin,
                "--echo",
                "127.0.0.1:0",
            ],
            "system ready",
        )
        .await
}

/// The namespaces of the `up` with process id `pid`.
fn namespaces_of(pid: u32) -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let prefix = format!("switchboard-{pid}-");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| name.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// The processes in namespace `netns`.
fn pids_in(netns: &str) -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", netns])
        .output()
        .expect("ip netns pids");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The servers' addresses, from the admin API's status, in order.
async fn host_addrs(admin: SocketAddr) -> Vec<SocketAddr> {
    let status = http_get(admin, "/status").await;
    let body = status.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let value: serde_json::Value = serde_json::from_str(body).expect("status JSON");
    value["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .map(|b| {
            b["addr"]
                .as_str()
                .expect("addr")
                .parse()
                .expect("an address")
        })
        .collect()
}

/// Reads from `s` until what was read contains `needle`.
async fn read_until(s: &mut tokio::net::TcpStream, seen: &mut Vec<u8>, needle: &str) {
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(seen).contains(needle) {
        let n = tokio::io::AsyncReadExt::read(s, &mut buf)
            .await
            .expect("read");
        assert!(
            n > 0,
            "closed before {needle:?}: {}",
            String::from_utf8_lossy(seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
}

/// Registers and signs in `name` through `addr`; the session token.
async fn token_for(addr: SocketAddr, name: &str) -> String {
    let body = format!(r#"{{"username":"{name}","password":"a long passphrase"}}"#);
    let made = call(addr, "POST", "/api/users", &[], &body).await;
    assert!(matches!(made, Answer::Status(201, _)), "{made:?}");
    match call(addr, "POST", "/login", &[], &body).await {
        Answer::Status(200, body) => {
            let value: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            value["token"].as_str().expect("a token").to_string()
        }
        other => panic!("sign-in: {other:?}"),
    }
}

#[tokio::test]
async fn hosts_share_sessions_and_the_feed_survive_a_dead_host_and_leave_nothing_behind() {
    let test = "hosts_share_sessions_and_the_feed_survive_a_dead_host_and_leave_nothing_behind";
    let Some(db) = hosts_database(test) else {
        return;
    };
    let admin = free_addr().await;
    let up = start_hosts("3", &admin, &db.url).await;
    let pid = up.id().expect("running");
    let names = namespaces_of(pid);
    assert_eq!(names.len(), 3, "{names:?}");
    let hosts = host_addrs(admin.parse().unwrap()).await;
    assert_eq!(hosts.len(), 3, "{hosts:?}");
    for host in &hosts {
        assert!(
            !host.ip().is_loopback(),
            "a host has an address of its own: {host}"
        );
    }

    // A session made through the balancer works on every host, asked directly.
    let name = format!("h{}", fastrand::u32(..));
    let token = token_for(up.addr, &name).await;
    for (i, host) in hosts.iter().enumerate() {
        let out = cli()
            .run(
                &[
                    "get",
                    &format!("http://{host}/api/profile"),
                    &format!("Authorization:Bearer {token}"),
                    "--print",
                    "hb",
                ],
                b"",
            )
            .await;
        assert_eq!(out.code(), 0, "host {}: {}", i + 1, out.stderr);
        let text = out.stdout_text();
        assert!(text.contains(&format!("\"username\":\"{name}\"")), "{text}");
        assert!(
            text.contains(&format!("x-served-by: server-{}", i + 1)),
            "{text}"
        );
    }

    // A post made on host 1 arrives as an event at a client connected to host 3.
    let mut events = tokio::net::TcpStream::connect(hosts[2]).await.unwrap();
    let ask = format!(
        "GET /api/events HTTP/1.1\r\nHost: h\r\nAccept: text/event-stream\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    tokio::io::AsyncWriteExt::write_all(&mut events, ask.as_bytes())
        .await
        .unwrap();
    let mut seen = Vec::new();
    read_until(&mut events, &mut seen, "\r\n\r\n").await;
    assert!(
        seen.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    let text = format!("from host 1 {}", fastrand::u32(..));
    let bearer = format!("Bearer {token}");
    let posted = call(
        hosts[0],
        "POST",
        "/api/posts",
        &[("Authorization", &bearer)],
        &format!(r#"{{"text":"{text}"}}"#),
    )
    .await;
    assert!(matches!(posted, Answer::Status(201, _)), "{posted:?}");
    tokio::time::timeout(
        Duration::from_secs(5),
        read_until(&mut events, &mut seen, &text),
    )
    .await
    .expect("the post, as an event on host 3");
    assert!(String::from_utf8_lossy(&seen).contains("event: post"));
    drop(events);

    // Hosts die while 20 clients write through the balancer: host 2's server is killed
    // outright, host 3 drops off the network. Nothing acknowledged is lost.
    let server_2 = pids_in(&names[1]);
    assert_eq!(server_2.len(), 1, "{server_2:?}");
    let link_3 = format!("sb{pid}h3");
    let records = write_through_a_crash(up.addr, 20, async {
        let killed = std::process::Command::new("kill")
            .args(["-9", &server_2[0]])
            .status()
            .unwrap();
        assert!(killed.success());
        let down = std::process::Command::new("ip")
            .args(["link", "set", &link_3, "down"])
            .status()
            .unwrap();
        assert!(down.success());
    })
    .await;
    // The balancer routes around them: every request is answered.
    for _ in 0..10 {
        let answer = http_get(up.addr, "/healthz").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let counts = count(&records);
    println!(
        "hosts: registrations ok/failed/unknown {:?}, password changes {:?}",
        counts.0, counts.1
    );
    verify_after_restart(&db.url, &records).await;

    // Stopped, it removes every host.
    up.signal("TERM").await;
    let (status, log) = up.wait(Duration::from_secs(30)).await;
    assert!(status.success(), "{log}");
    assert!(namespaces_of(pid).is_empty(), "{:?}", namespaces_of(pid));
}

#[tokio::test]
async fn hosts_are_removed_even_when_up_is_killed_outright() {
    let test = "hosts_are_removed_even_when_up_is_killed_outright";
    let Some(db) = hosts_database(test) else {
        return;
    };
    let admin = free_addr().await;
    let up = start_hosts("2", &admin, &db.url).await;
    let pid = up.id().expect("running");
    assert_eq!(namespaces_of(pid).len(), 2);
    up.signal("KILL").await;
    let _ = up.wait(Duration::from_secs(10)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !namespaces_of(pid).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "hosts left behind: {:?}",
            namespaces_of(pid)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn hosts_need_a_shared_postgres() {
    let out = cli().run(&["up", "--hosts", "2"], b"").await;
    assert_eq!(out.code(), 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("--hosts needs --database"),
        "{}",
        out.stderr
    );
    let out = cli()
        .run(&["up", "--hosts", "2", "--database", "sqlite://x.db"], b"")
        .await;
    assert_eq!(out.code(), 2, "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    let out = cli()
        .run(&["up", "--hosts", "2", "--servers", "3"], b"")
        .await;
    assert_eq!(out.code(), 2, "{}", out.stderr);
}
