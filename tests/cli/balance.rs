//! `switchboard balance` in front of real `switchboard serve` processes.

use std::time::Duration;

use switchboard_testkit::{http_get, http_get_as};

use crate::{cli, free_addr, start_balance, start_serve};

#[tokio::test]
async fn balances_two_servers_and_reports_them() {
    let dir = std::env::temp_dir().join(format!("switchboard_cli_balance_{}", fastrand::u32(..)));
    let mut servers = Vec::new();
    for name in ["one", "two"] {
        servers.push(start_serve(name, &dir.join(name)).await);
    }
    let admin = free_addr().await;
    let one = servers[0].addr.to_string();
    let lb = start_balance(
        &admin,
        &[&servers[0], &servers[1]],
        &["--health-check", "/healthz"],
    )
    .await;

    let mut served_by = Vec::new();
    for _ in 0..4 {
        let answer = http_get(lb.addr, "/healthz").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let name = answer
            .lines()
            .find_map(|l| l.strip_prefix("x-served-by: "))
            .unwrap_or("?")
            .to_string();
        served_by.push(name);
    }
    assert_eq!(served_by, ["one", "two", "one", "two"]);

    // A client speaking HTTP/2 (h2c) to the balancer: its host travels as `:authority`, and
    // the backend, spoken to in HTTP/1.1, still gets a Host header (without one it answers 400).
    let out = cli()
        .run(
            &[
                "get",
                &format!("http://{}/healthz", lb.addr),
                "--http-version",
                "2",
                "--print",
                "hb",
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(
        out.stdout_text().contains("\"status\""),
        "{}",
        out.stdout_text()
    );

    let status = http_get(admin.parse().unwrap(), "/status").await;
    assert!(status.contains("\"strategy\":\"round-robin\""), "{status}");
    assert!(status.contains(&format!("\"addr\":\"{one}\"")), "{status}");

    lb.signal("TERM").await;
    let (code, log) = lb.wait(Duration::from_secs(15)).await;
    assert_eq!(code.code(), Some(0), "{log}");
    for server in servers {
        server.signal("TERM").await;
        server.wait(Duration::from_secs(15)).await;
    }
}

#[tokio::test]
async fn bad_balance_flags_exit_2() {
    for args in [
        &["balance"][..],
        &["balance", "--backend", "nowhere"][..],
        &["balance", "--backend", "127.0.0.1:1,weight=0"][..],
        &["balance", "--backend", "127.0.0.1:1,speed=3"][..],
        &[
            "balance",
            "--backend",
            "127.0.0.1:1",
            "--strategy",
            "random",
        ][..],
        &[
            "balance",
            "--backend",
            "127.0.0.1:1",
            "--health-check",
            "ping",
        ][..],
        &[
            "balance",
            "--backend",
            "127.0.0.1:1",
            "--mode",
            "tcp",
            "--health-check",
            "/healthz",
        ][..],
        &[
            "balance",
            "--backend",
            "127.0.0.1:1",
            "--admin-host",
            "lb.test:8081",
        ][..],
    ] {
        let out = cli().run(args, b"").await;
        assert_eq!(out.code(), 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.starts_with("error"), "{}", out.stderr);
    }
}

#[tokio::test]
async fn sighup_reloads_the_config_without_failing_a_request() {
    let dir = std::env::temp_dir().join(format!("switchboard_cli_reload_{}", fastrand::u32(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let mut servers = Vec::new();
    for name in ["one", "two"] {
        servers.push(start_serve(name, &dir.join(name)).await);
    }
    let (one, two) = (servers[0].addr.to_string(), servers[1].addr.to_string());
    let admin = free_addr().await;
    let config = dir.join("balance.toml");
    let write = |backends: &[&str], strategy: &str| {
        let mut text = format!("listen = \"127.0.0.1:0\"\nadmin = \"{admin}\"\nstrategy = \"{strategy}\"\n[health]\ncheck = \"/healthz\"\n");
        for b in backends {
            text.push_str(&format!("[[backend]]\naddr = \"{b}\"\n"));
        }
        std::fs::write(&config, text).unwrap();
    };
    write(&[&one], "round-robin");
    let lb = cli()
        .spawn_server(
            &["balance", "--config", config.to_str().unwrap()],
            "balancer listening",
        )
        .await;
    let addr = lb.addr;
    let served_by = |answer: String| {
        answer
            .lines()
            .find_map(|l| l.strip_prefix("x-served-by: ").map(str::to_string))
            .unwrap_or_default()
    };
    assert_eq!(served_by(http_get(addr, "/healthz").await), "one");

    // Steady load through the reloads; not one request may fail.
    let load = tokio::spawn(async move {
        let mut failed = 0;
        for _ in 0..200 {
            if !http_get(addr, "/healthz").await.starts_with("HTTP/1.1 200") {
                failed += 1;
            }
        }
        failed
    });
    write(&[&one, &two], "least-connections");
    lb.signal("HUP").await;
    let admin_addr = admin.parse().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !http_get(admin_addr, "/status").await.contains(&two) {
        assert!(tokio::time::Instant::now() < deadline, "reload not applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(http_get(admin_addr, "/status")
        .await
        .contains("least-connections"));

    // A broken file: logged, and the running configuration stays.
    std::fs::write(&config, "strategy = \"random\"\n").unwrap();
    lb.signal("HUP").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = http_get(admin_addr, "/status").await;
    assert!(status.contains(&one) && status.contains(&two), "{status}");
    assert_eq!(load.await.unwrap(), 0, "requests failed during the reloads");

    let mut seen = std::collections::HashSet::new();
    for _ in 0..6 {
        seen.insert(served_by(http_get(addr, "/healthz").await));
    }
    assert_eq!(
        seen.len(),
        2,
        "both backends serve after the reload: {seen:?}"
    );

    lb.signal("TERM").await;
    let (code, log) = lb.wait(Duration::from_secs(15)).await;
    assert_eq!(code.code(), Some(0), "{log}");
    assert!(
        log.contains("reload failed; the running configuration stays"),
        "{log}"
    );
    for server in servers {
        server.signal("TERM").await;
        server.wait(Duration::from_secs(15)).await;
    }
}

#[tokio::test]
async fn a_declared_body_over_the_servers_limit_is_refused_at_once_through_the_balancer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = std::env::temp_dir().join(format!("switchboard_cli_413_{}", fastrand::u32(..)));
    let server = start_serve("one", &dir).await;
    let admin = free_addr().await;
    let lb = start_balance(&admin, &[&server], &[]).await;
    for declared in ["2000000", "99999999999"] {
        let mut stream = tokio::net::TcpStream::connect(lb.addr).await.unwrap();
        let head = format!(
            "POST /process HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {declared}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // No body follows: the answer must not wait for one (the request timeout is 30 s).
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut got))
            .await
            .expect("answered and closed at once")
            .unwrap();
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
        assert!(
            text.ends_with(&format!(
                "{{\"error\":\"request body of {declared} bytes is larger than the limit of 1048576 bytes\"}}"
            )),
            "{text}"
        );
    }
    let status = http_get(admin.parse().unwrap(), "/status").await;
    assert!(
        status.contains("\"errors\":0"),
        "the server is not blamed: {status}"
    );
    lb.signal("TERM").await;
    lb.wait(Duration::from_secs(15)).await;
    server.signal("TERM").await;
    server.wait(Duration::from_secs(15)).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_admin_api_answers_to_the_host_names_it_is_given() {
    let dir = std::env::temp_dir().join(format!("switchboard_cli_hosts_{}", fastrand::u32(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("balance.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\nadmin-hosts = [\"file.test\"]\n[[backend]]\naddr = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    // From the file; then from the flag, which replaces the file's.
    for (flags, answered, refused) in [
        (&[][..], "file.test", "flag.test"),
        (&["--admin-host", "flag.test"][..], "flag.test", "file.test"),
    ] {
        let admin = free_addr().await;
        let mut args = vec![
            "balance",
            "--config",
            config.to_str().unwrap(),
            "--admin",
            &admin,
        ];
        args.extend_from_slice(flags);
        let lb = cli().spawn_server(&args, "balancer listening").await;
        let admin_addr: std::net::SocketAddr = admin.parse().unwrap();
        let port = admin_addr.port();
        for host in [
            admin.clone(),
            format!("localhost:{port}"),
            format!("{answered}:{port}"),
        ] {
            let status = http_get_as(admin_addr, &host, "/status").await;
            assert!(status.starts_with("HTTP/1.1 200"), "{host}: {status}");
        }
        for host in [format!("{refused}:{port}"), "evil.example".to_string()] {
            let status = http_get_as(admin_addr, &host, "/status").await;
            assert!(
                status.starts_with("HTTP/1.1 421") && status.contains("\"error\""),
                "{host}: {status}"
            );
        }
        lb.signal("TERM").await;
        let (code, log) = lb.wait(Duration::from_secs(15)).await;
        assert_eq!(code.code(), Some(0), "{log}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Reads until the peer closes (or resets); panics if it is still open after `within`.
async fn closed_within(s: &mut tokio::net::TcpStream, within: Duration) -> Duration {
    use tokio::io::AsyncReadExt;
    let start = tokio::time::Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(start + within, s.read(&mut buf)).await {
            Err(_) => panic!("still open after {within:?}"),
            Ok(Ok(0) | Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

/// One keep-alive GET on `s`; the status.
async fn keep_alive_get(s: &mut tokio::net::TcpStream) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(n > 0, "closed before its answer");
        head.extend_from_slice(&buf[..n]);
    }
    // /healthz's body is small: it came with the head or comes at once.
    let text = String::from_utf8_lossy(&head);
    let length: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let start = text.find("\r\n\r\n").unwrap() + 4;
    let mut have = head.len() - start;
    while have < length {
        have += s.read(&mut buf).await.unwrap();
    }
    text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn the_balancer_takes_the_servers_limits_on_clients() {
    let dir = std::env::temp_dir().join(format!("switchboard_cli_limits_{}", fastrand::u32(..)));
    let server = start_serve("one", &dir.join("one")).await;
    let admin = free_addr().await;
    let lb = start_balance(
        &admin,
        &[&server],
        &["--max-connections", "2", "--header-read-timeout", "1s"],
    )
    .await;
    let connect = || tokio::net::TcpStream::connect(lb.addr);

    // Past --max-connections a new connection is closed at once; the two it has go on.
    let mut first = connect().await.unwrap();
    let mut second = connect().await.unwrap();
    assert_eq!(keep_alive_get(&mut first).await, 200);
    assert_eq!(keep_alive_get(&mut second).await, 200);
    let mut third = connect().await.unwrap();
    closed_within(&mut third, Duration::from_secs(2)).await;
    assert_eq!(keep_alive_get(&mut first).await, 200);
    assert_eq!(keep_alive_get(&mut second).await, 200);
    drop((first, second));

    // A client trickling its request head (slowloris) is let go by the header-read timer.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut slow = connect().await.unwrap();
    let trickle = async {
        use tokio::io::AsyncWriteExt;
        for byte in b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: "
            .iter()
            .cycle()
        {
            if slow.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let started = tokio::time::Instant::now();
    let let_go = tokio::time::timeout(Duration::from_secs(3), trickle).await;
    assert!(let_go.is_ok(), "the trickling client was not let go");
    assert!(started.elapsed() >= Duration::from_millis(900));
    closed_within(&mut slow, Duration::from_secs(1)).await;

    let bad = cli()
        .run(
            &[
                "balance",
                "--backend",
                "127.0.0.1:1",
                "--max-connections",
                "0",
            ],
            b"",
        )
        .await;
    assert_eq!(bad.code(), 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("--max-connections is too small"),
        "{}",
        bad.stderr
    );
    lb.signal("TERM").await;
    lb.wait(Duration::from_secs(30)).await;
    let _ = std::fs::remove_dir_all(&dir);
}
