//! `switchboard echo serve` and `switchboard echo send`.

use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};

use crate::cli;

async fn serve(extra: &[&str]) -> switchboard_testkit::ChildServer {
    let mut args = vec!["echo", "serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    cli().spawn_server(&args, "listening").await
}

#[tokio::test]
async fn send_prints_the_reply() {
    let server = serve(&["--prefix", "Server received: "]).await;
    let addr = server.addr.to_string();
    let out = cli()
        .run(&["echo", "send", &addr, "Hello,", "Server!"], b"")
        .await;
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout_text(), "Server received: Hello, Server!\n");

    let out = cli()
        .run(&["echo", "send", "--udp", &addr, "ping"], b"")
        .await;
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout_text(), "Server received: ping\n");

    server.signal("TERM").await;
    let (status, log) = server.wait(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("connection closed"), "{log}");
    assert!(log.contains("bytes_in=15"), "{log}");
}

#[tokio::test]
async fn send_without_a_message_sends_standard_input() {
    let server = serve(&[]).await;
    let addr = server.addr.to_string();
    let out = cli()
        .run(&["echo", "send", &addr], b"one\ntwo\n\xff\x00")
        .await;
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout, b"one\ntwo\n\xff\x00");

    let out = cli()
        .run(&["echo", "send", "--udp", &addr], b"one\ntwo\n")
        .await;
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout_text(), "one\ntwo\n");
    server.signal("INT").await;
    let (status, _) = server.wait(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn send_failures_are_one_line_and_exit_1() {
    // A port nobody listens on: bind one, note it, close it.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![port.to_string(), "hi".into()],
            "cannot connect to 127.0.0.1:",
        ),
        (
            vec!["no-such-host.invalid:7".into(), "hi".into()],
            "cannot resolve host 'no-such-host.invalid'",
        ),
    ];
    for (args, says) in cases {
        let mut full = vec!["echo", "send"];
        full.extend(args.iter().map(String::as_str));
        let out = cli().run(&full, b"").await;
        assert_eq!(out.code(), 1, "{out:?}");
        assert!(
            out.stderr.starts_with(&format!("error: {says}")),
            "{}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
    }
}

#[tokio::test]
async fn a_lost_udp_reply_times_out_with_exit_1() {
    let sink = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sink.local_addr().unwrap().to_string();
    let out = cli()
        .run(
            &[
                "echo",
                "send",
                "--udp",
                "--timeout",
                "300ms",
                &addr,
                "hello?",
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 1, "{out:?}");
    assert_eq!(
        out.stderr.trim(),
        format!("error: no reply from {addr} within 300ms (the datagram or its reply may have been lost)")
    );
}

#[tokio::test]
async fn send_usage_errors_exit_2() {
    for args in [
        &["echo", "send", "localhost", "hi"][..],
        &["echo", "send", "127.0.0.1:7", "--timeout", "soon", "hi"][..],
        &["echo", "send", "127.0.0.1:7", "--timeout", "0", "hi"][..],
        &["echo", "send"][..],
    ] {
        let out = cli().run(args, b"").await;
        assert_eq!(out.code(), 2, "{args:?}: {out:?}");
        assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    }
}

#[tokio::test]
async fn serve_reports_an_address_in_use() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = cli().run(&["echo", "serve", "--listen", &addr], b"").await;
    assert_eq!(out.code(), 1, "{out:?}");
    assert_eq!(
        out.stderr.trim(),
        format!("error: cannot listen on {addr}: address already in use (is another server running there?)")
    );
}

#[tokio::test]
async fn serve_usage_errors_exit_2() {
    for args in [
        &["echo", "serve", "--listen", "nonsense"][..],
        &["echo", "serve", "--model", "forked"][..],
        &["echo", "serve", "--max-line", "lots"][..],
        &["echo", "serve", "--max-connections", "0"][..],
        &["echo", "serve", "--idle-timeout", "-3s"][..],
    ] {
        let out = cli().run(args, b"").await;
        assert_eq!(out.code(), 2, "{args:?}: {out:?}");
        assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    }
}

#[tokio::test]
async fn serve_cannot_resolve_a_listen_host() {
    let out = cli()
        .run(
            &["echo", "serve", "--listen", "no-such-host.invalid:7007"],
            b"",
        )
        .await;
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(out
        .stderr
        .starts_with("error: cannot resolve host 'no-such-host.invalid'"));
}

#[tokio::test]
async fn quiet_serve_logs_nothing_but_works() {
    // Quiet, it does not announce its address: pick a free port for it.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let listen = addr.to_string();
    let server = cli()
        .spawn_quiet(&["echo", "serve", "-q", "--no-udp", "--listen", &listen])
        .await;
    switchboard_testkit::wait_until_accepting(addr).await;
    let out = cli().run(&["echo", "send", &listen, "x"], b"").await;
    assert_eq!(out.code(), 0);
    assert_eq!(out.stdout_text(), "x\n");
    server.signal("TERM").await;
    let (status, log) = server.wait(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
    assert_eq!(log, "");
}
