//! `switchboard bench URL` and `switchboard bench echo HOST:PORT`.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::cli;

/// A tiny HTTP/1.1 server: every request (no body) is answered `200 ok`, with keep-alive.
async fn http_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut have = 0;
                loop {
                    match stream.read(&mut buf[have..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => have += n,
                    }
                    while let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.copy_within(end + 4..have, 0);
                        have -= end + 4;
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn http_json_and_plot() {
    let addr = http_server().await;
    let dir = std::env::temp_dir().join(format!("switchboard-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plot = dir.join("latency.svg");
    let url = format!("http://{addr}/add?a=1&b=2");
    let out = cli()
        .run(
            &[
                "bench",
                &url,
                "-c",
                "4",
                "-n",
                "500",
                "--json",
                "--plot",
                plot.to_str().unwrap(),
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stderr, "", "nothing but the report on a pipe");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(json["requests"], 500);
    assert_eq!(json["status"]["200"], 500);
    assert_eq!(json["errors"]["total"], 0);
    assert_eq!(json["mode"], "http/1.1");
    assert!(json["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.contains("<polyline"));
    assert!(svg.trim_end().ends_with("</svg>"));
    std::fs::remove_dir_all(&dir).unwrap();

    let out = cli()
        .run(&["bench", &url, "-c", "2", "-d", "300ms"], b"")
        .await;
    assert_eq!(out.code(), 0, "{out:?}");
    let text = out.stdout_text();
    for word in ["requests", "latency", "p99.9", "200: ", "errors       none"] {
        assert!(text.contains(word), "no {word} in:\n{text}");
    }
}

#[tokio::test]
async fn echo_round_trips() {
    let server = cli()
        .spawn_server(&["echo", "serve", "--listen", "127.0.0.1:0"], "listening")
        .await;
    let addr = server.addr.to_string();
    let out = cli()
        .run(
            &[
                "bench",
                "echo",
                &addr,
                "-c",
                "2",
                "-n",
                "400",
                "--size",
                "64",
                "--pipeline",
                "4",
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(
        out.stdout_text().contains("round trips  400 ("),
        "{}",
        out.stdout_text()
    );
    let out = cli()
        .run(
            &[
                "bench", "echo", &addr, "--udp", "-c", "2", "-d", "300ms", "--json",
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 0, "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["mode"], "echo-udp");
    assert!(json["requests"].as_u64().unwrap() > 0);
    server.signal("TERM").await;
    let _ = server.wait(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn nothing_to_connect_to_exits_1() {
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    for args in [
        vec![
            "bench".to_string(),
            format!("http://{port}/"),
            "-d".into(),
            "5s".into(),
        ],
        vec![
            "bench".into(),
            "echo".into(),
            port.to_string(),
            "-n".into(),
            "10".into(),
        ],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = cli().run(&args, b"").await;
        assert_eq!(out.code(), 1, "{out:?}");
        assert_eq!(
            out.stderr.trim(),
            format!("error: cannot connect to {port}: connection refused (is the server running?)")
        );
    }
}

#[tokio::test]
async fn bench_usage_errors_exit_2() {
    for args in [
        &["bench"][..],
        &["bench", "http://127.0.0.1:1/", "--bogus"][..],
        &["bench", "https://127.0.0.1:1/"][..],
        &["bench", "127.0.0.1:1"][..],
        &["bench", "http://127.0.0.1:1/", "-c", "0"][..],
        &["bench", "http://127.0.0.1:1/", "-d", "soon"][..],
        &["bench", "http://127.0.0.1:1/", "-d", "1s", "-n", "5"][..],
        &["bench", "http://127.0.0.1:1/", "-H", "no colon"][..],
        &["bench", "http://127.0.0.1:1/", "--rate", "0"][..],
        &["bench", "echo", "127.0.0.1:1", "--udp", "--pipeline", "2"][..],
        &["bench", "echo", "127.0.0.1:1", "--size", "0"][..],
        &["bench", "echo", "nonsense"][..],
    ] {
        let out = cli().run(args, b"").await;
        assert_eq!(out.code(), 2, "{args:?}: {out:?}");
        assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    }
}

#[tokio::test]
async fn ctrl_c_ends_the_run_with_its_report() {
    let addr = http_server().await;
    let plot =
        std::env::temp_dir().join(format!("switchboard-bench-int-{}.svg", std::process::id()));
    let url = format!("http://{addr}/");
    let run = cli()
        .spawn_quiet(&[
            "bench",
            &url,
            "-c",
            "2",
            "-d",
            "60s",
            "--plot",
            plot.to_str().unwrap(),
        ])
        .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    run.signal("INT").await;
    let (status, stderr) = run.wait(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    let svg = std::fs::read_to_string(&plot).expect("the plot was written");
    assert!(svg.contains("<polyline"));
    std::fs::remove_file(&plot).unwrap();
}
