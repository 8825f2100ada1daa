//! `switchboard up`: the whole system from one command.

use std::time::Duration;

use switchboard_testkit::http_get;
use tokio::net::TcpListener;

use crate::{cli, free_addr, server_pids, start_up};

/// Registers `name` through the balancer at `addr`, signs in, and returns the session token.
async fn sign_up_and_in(addr: std::net::SocketAddr, name: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut login = String::new();
    for path in ["/api/users", "/login"] {
        let body = format!(r#"{{"username":"{name}","password":"a long passphrase"}}"#);
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        login.clear();
        s.read_to_string(&mut login).await.unwrap();
    }
    let json = login.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    let value: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|_| panic!("{login}"));
    value["token"].as_str().unwrap().to_string()
}

/// Asks for the profile four times with `token`; returns the names of the servers that
/// answered, each answer being `name`'s profile.
async fn profile_answered_by(
    addr: std::net::SocketAddr,
    token: &str,
    name: &str,
) -> std::collections::HashSet<String> {
    let mut answered_by = std::collections::HashSet::new();
    for _ in 0..4 {
        let out = cli()
            .run(
                &[
                    "get",
                    &format!("http://{addr}/api/profile"),
                    &format!("Authorization:Bearer {token}"),
                    "--print",
                    "hb",
                ],
                b"",
            )
            .await;
        assert_eq!(out.code(), 0, "{}", out.stderr);
        let text = out.stdout_text();
        assert!(text.contains(&format!("\"username\":\"{name}\"")), "{text}");
        if let Some(server) = text.lines().find_map(|l| l.strip_prefix("x-served-by: ")) {
            answered_by.insert(server.to_string());
        }
    }
    answered_by
}

#[tokio::test]
async fn up_runs_everything_restarts_a_killed_server_and_leaves_nothing_behind() {
    let dir = std::env::temp_dir().join(format!("switchboard_cli_up_{}", fastrand::u32(..)));
    let data = dir.join("data");
    let data_arg = data.to_str().unwrap().to_string();
    let (admin, echo) = (free_addr().await, free_addr().await);
    let up = start_up("2", &admin, &echo, &["--data", &data_arg]).await;

    // The site through the balancer, answered by both servers in turn.
    let mut served_by = Vec::new();
    for _ in 0..4 {
        let answer = http_get(up.addr, "/healthz").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        served_by.push(
            answer
                .lines()
                .find_map(|l| l.strip_prefix("x-served-by: "))
                .unwrap_or("?")
                .to_string(),
        );
    }
    served_by.sort();
    assert_eq!(served_by, ["server-1", "server-1", "server-2", "server-2"]);

    // The message server, TCP and UDP.
    for udp in [false, true] {
        let mut args = vec!["echo", "send"];
        if udp {
            args.push("--udp");
        }
        args.extend([echo.as_str(), "ping"]);
        let out = cli().run(&args, b"").await;
        assert_eq!(out.stdout_text(), "ping\n", "udp {udp}: {}", out.stderr);
    }

    // A session made through the balancer works whichever server answers next.
    let token = sign_up_and_in(up.addr, "ann").await;
    let answered_by = profile_answered_by(up.addr, &token, "ann").await;
    assert_eq!(
        answered_by.len(),
        2,
        "both servers answered: {answered_by:?}"
    );

    // The admin API names both servers.
    let admin_addr = admin.parse().unwrap();
    let status = http_get(admin_addr, "/status").await;
    assert!(
        status.contains("\"name\":\"server-1\"") && status.contains("\"name\":\"server-2\""),
        "{status}"
    );

    // Kill a server: it comes back on its port, counted, and the site never stops answering.
    let pids = server_pids(&data_arg, "server-1");
    assert_eq!(pids.len(), 1, "{pids:?}");
    std::process::Command::new("kill")
        .args(["-KILL", &pids[0]])
        .status()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        assert!(http_get(up.addr, "/healthz")
            .await
            .starts_with("HTTP/1.1 200"));
        let status = http_get(admin_addr, "/status").await;
        if status.contains("\"restarts\":1") && server_pids(&data_arg, "server-1").len() == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "server-1 not restarted: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Ctrl-C's signal: everything stops, children included.
    up.signal("INT").await;
    let (code, log) = up.wait(Duration::from_secs(30)).await;
    assert_eq!(code.code(), Some(0), "{log}");
    assert!(
        server_pids(&data_arg, "server-1").is_empty()
            && server_pids(&data_arg, "server-2").is_empty()
    );
}

#[tokio::test]
async fn up_fails_cleanly_when_a_port_is_taken_or_the_data_directory_is_unwritable() {
    let dir = std::env::temp_dir().join(format!("switchboard_cli_up_fail_{}", fastrand::u32(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let data = dir.join("data");
    let out = cli()
        .run(
            &[
                "up",
                "--listen",
                &taken_addr,
                "--admin",
                "127.0.0.1:0",
                "--echo",
                "127.0.0.1:0",
                "--data",
                data.to_str().unwrap(),
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("address already in use"),
        "{}",
        out.stderr
    );
    assert!(
        server_pids(data.to_str().unwrap(), "server-1").is_empty(),
        "nothing left running"
    );

    let file = dir.join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let out = cli()
        .run(
            &[
                "up",
                "--listen",
                "127.0.0.1:0",
                "--admin",
                "127.0.0.1:0",
                "--echo",
                "127.0.0.1:0",
                "--data",
                file.join("data").to_str().unwrap(),
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("is not writable"), "{}", out.stderr);

    let out = cli().run(&["up", "--servers", "0"], b"").await;
    assert_eq!(out.code(), 2, "{}", out.stderr);

    // A database that cannot be reached (nothing listens on port 1).
    let out = cli()
        .run(
            &[
                "up",
                "--listen",
                "127.0.0.1:0",
                "--admin",
                "127.0.0.1:0",
                "--echo",
                "127.0.0.1:0",
                "--database",
                "postgres://postgres@127.0.0.1:1/test",
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot connect to PostgreSQL"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
}

#[tokio::test]
async fn up_on_postgres_shares_sessions_between_server_processes() {
    let Some(url) = std::env::var("SWITCHBOARD_TEST_POSTGRES").ok() else {
        eprintln!("skipped: SWITCHBOARD_TEST_POSTGRES is not set, so up_on_postgres_shares_sessions_between_server_processes did not run");
        return;
    };
    let up = start_up("2", "127.0.0.1:0", "127.0.0.1:0", &["--database", &url]).await;
    let name = format!("up{}", fastrand::u32(..));
    let token = sign_up_and_in(up.addr, &name).await;
    let answered_by = profile_answered_by(up.addr, &token, &name).await;
    assert_eq!(
        answered_by.len(),
        2,
        "both servers answered: {answered_by:?}"
    );
    up.signal("TERM").await;
    let (status, log) = up.wait(Duration::from_secs(30)).await;
    assert!(status.success(), "{log}");
}

#[tokio::test]
async fn servers_stop_by_themselves_when_up_is_killed_outright() {
    let dir = std::env::temp_dir().join(format!("switchboard_cli_up_kill_{}", fastrand::u32(..)));
    let data = dir.join("data");
    let data_arg = data.to_str().unwrap().to_string();
    let up = start_up("2", "127.0.0.1:0", "127.0.0.1:0", &["--data", &data_arg]).await;
    assert_eq!(server_pids(&data_arg, "server-2").len(), 1);

    // SIGKILL: no chance to stop its children; they see their standard input close.
    up.signal("KILL").await;
    let _ = up.wait(Duration::from_secs(10)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !(server_pids(&data_arg, "server-1").is_empty()
        && server_pids(&data_arg, "server-2").is_empty())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "servers left behind after up was killed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
