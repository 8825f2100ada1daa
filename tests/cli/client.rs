//! `switchboard get|post|...|request`: the HTTP client against a real `switchboard serve`,
//! over real sockets; exit statuses, parts printed, sessions, redirects, downloads.

use std::time::Duration;

use switchboard_testkit::ChildServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{cli, cli_with_env};

const PASSWORD: &str = "password=a long passphrase";

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchboard_client_{tag}_{}_{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `switchboard serve` on 127.0.0.1:0 with a fresh data directory; returns it and `:PORT`.
async fn server(tag: &str) -> (ChildServer, String, std::path::PathBuf) {
    let dir = temp_dir(tag);
    let data = dir.join("data");
    let server = cli()
        .spawn_server(
            &[
                "serve",
                "--data",
                data.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ],
            "application server listening",
        )
        .await;
    let base = format!("127.0.0.1:{}", server.addr.port());
    (server, base, dir)
}

async fn stop(server: ChildServer) {
    server.signal("TERM").await;
    server.wait(Duration::from_secs(15)).await;
}

#[tokio::test]
async fn requests_items_and_exit_statuses() {
    let (server, base, _dir) = server("basic").await;

    let out = cli()
        .run(&["get", &format!("{base}/add"), "a==5", "b==3"], b"")
        .await;
    assert_eq!(
        (out.code(), out.stdout_text().as_str()),
        (0, "8"),
        "{out:?}"
    );

    let out = cli()
        .run(
            &["post", &format!("{base}/api/process"), "input:=[1,2,3]"],
            b"",
        )
        .await;
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout_text(), r#"{"result":6}"#, "piped output is raw");

    // A piped standard input is the body.
    let out = cli()
        .run(
            &["post", &format!("{base}/api/process")],
            br#"{"input": [4, 5]}"#,
        )
        .await;
    assert_eq!(
        (out.code(), out.stdout_text().as_str()),
        (0, r#"{"result":9}"#)
    );

    // `request` takes any method; the shorthand URL is http://localhost:PORT.
    let port = base.rsplit(':').next().unwrap();
    let out = cli()
        .run(&["request", "get", &format!(":{port}/healthz")], b"")
        .await;
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout_text().contains("ok"), "{out:?}");

    let out = cli().run(&["get", &format!("{base}/nope")], b"").await;
    assert_eq!(out.code(), 4, "{out:?}");
    assert!(out.stderr.contains("HTTP 404 Not Found"), "{}", out.stderr);

    // The status line is still printed when asked for, and the exit status says 4xx.
    let out = cli()
        .run(&["get", &format!("{base}/add"), "a==x", "-p", "h"], b"")
        .await;
    assert_eq!(out.code(), 4, "{out:?}");
    assert!(out.stdout_text().starts_with("HTTP/1.1 400 Bad Request\n"));
    stop(server).await;
}

#[tokio::test]
async fn a_5xx_answer_exits_5() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        s.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 5\r\nconnection: close\r\n\r\nbusy\n",
        )
        .await
        .unwrap();
    });
    let out = cli().run(&["get", &format!("http://{addr}/")], b"").await;
    assert_eq!((out.code(), out.stdout_text().as_str()), (5, "busy\n"));
    answer.await.unwrap();
}

#[tokio::test]
async fn print_chooses_the_parts() {
    let (server, base, _dir) = server("print").await;
    let url = format!("{base}/add");

    let out = cli()
        .run(&["get", &url, "a==1", "b==2", "-p", "h"], b"")
        .await;
    let text = out.stdout_text();
    assert!(text.starts_with("HTTP/1.1 200 OK\n"), "{text}");
    assert!(text.contains("x-served-by: "), "{text}");
    assert!(!text.trim_end().ends_with('3'), "no body: {text}");

    let out = cli().run(&["get", &url, "a==1", "b==2", "-v"], b"").await;
    let text = out.stdout_text();
    assert!(text.starts_with("GET /add?a=1&b=2 HTTP/1.1\n"), "{text}");
    assert!(text.contains("user-agent: switchboard/"), "{text}");
    assert!(text.contains("\n\nHTTP/1.1 200 OK\n"), "{text}");
    assert!(text.ends_with("\n\n3"), "{text}");

    let out = cli()
        .run(
            &[
                "post",
                &format!("{base}/api/process"),
                "input:=[2]",
                "-p",
                "B",
            ],
            b"",
        )
        .await;
    assert_eq!(out.stdout_text(), "{\"input\": [2]}\n");

    // --pretty format indents JSON even on a pipe.
    let out = cli()
        .run(
            &["get", &format!("{base}/healthz"), "--pretty", "format"],
            b"",
        )
        .await;
    assert_eq!(out.stdout_text(), "{\n    \"status\": \"ok\"\n}\n");
    stop(server).await;
}

#[tokio::test]
async fn a_session_keeps_the_login() {
    let (server, base, dir) = server("session").await;
    let out = cli()
        .run(
            &[
                "post",
                &format!("{base}/api/users"),
                "username=ann",
                PASSWORD,
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 0, "{out:?}");

    // A plain name lives under $XDG_CONFIG_HOME, by host and port.
    let config = dir.join("config");
    let with_config = cli_with_env(&[("XDG_CONFIG_HOME", config.to_str().unwrap())]);
    let out = with_config
        .run(
            &[
                "post",
                &format!("{base}/login"),
                "username=ann",
                PASSWORD,
                "--session",
                "ann",
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 0, "{out:?}");
    let port = base.rsplit(':').next().unwrap();
    let file = config.join(format!("switchboard/sessions/127.0.0.1_{port}/ann.json"));
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains("sb_session"), "{saved}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let profile = format!("{base}/api/profile");
    let out = with_config
        .run(&["get", &profile, "--session", "ann"], b"")
        .await;
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout_text().contains(r#""username":"ann""#), "{out:?}");

    let out = cli().run(&["get", &profile], b"").await;
    assert_eq!(out.code(), 4, "without the session: {out:?}");

    // A session given as a path; credentials kept in it too.
    let path = dir.join("basic.json");
    let path = path.to_str().unwrap();
    let out = cli()
        .run(
            &[
                "get",
                &format!("{base}/healthz"),
                "--bearer",
                "t0ken",
                "--session",
                path,
                "-p",
                "H",
            ],
            b"",
        )
        .await;
    assert!(
        out.stdout_text().contains("authorization: Bearer t0ken"),
        "{out:?}"
    );
    let out = cli()
        .run(
            &[
                "get",
                &format!("{base}/healthz"),
                "--session",
                path,
                "-p",
                "H",
            ],
            b"",
        )
        .await;
    assert!(
        out.stdout_text().contains("authorization: Bearer t0ken"),
        "{out:?}"
    );
    stop(server).await;
}

#[tokio::test]
async fn redirects_are_followed_only_when_asked() {
    let (server, base, _dir) = server("redirect").await;
    cli()
        .run(
            &[
                "post",
                &format!("{base}/api/users"),
                "username=bob",
                PASSWORD,
            ],
            b"",
        )
        .await;
    let login = format!("{base}/login");
    let out = cli()
        .run(
            &["post", "-f", &login, "username=bob", PASSWORD, "-p", "h"],
            b"",
        )
        .await;
    assert_eq!(out.code(), 3, "{out:?}");
    let text = out.stdout_text();
    assert!(text.starts_with("HTTP/1.1 303 See Other\n"), "{text}");
    assert!(text.contains("location: /profile"), "{text}");

    // Followed, the cookie set on the way reaches the profile page.
    let out = cli()
        .run(
            &["post", "-f", &login, "username=bob", PASSWORD, "--follow"],
            b"",
        )
        .await;
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout_text().contains("Signed in as bob"), "{out:?}");

    let out = cli()
        .run(
            &[
                "post",
                "-f",
                &login,
                "username=bob",
                PASSWORD,
                "--follow",
                "--max-redirects",
                "0",
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(
        out.stderr.contains("more than 0 redirects"),
        "{}",
        out.stderr
    );
    stop(server).await;
}

#[tokio::test]
async fn offline_prints_the_request_without_a_server() {
    let out = cli()
        .run(
            &[
                "post",
                ":1/api/process",
                "input:=[1,2,3]",
                "X-Trace:abc",
                "--offline",
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 0, "{out:?}");
    let text = out.stdout_text();
    assert!(
        text.starts_with("POST /api/process HTTP/1.1\nhost: localhost:1\n"),
        "{text}"
    );
    assert!(text.contains("content-type: application/json\n"), "{text}");
    assert!(text.contains("x-trace: abc\n"), "{text}");
    assert!(text.ends_with("\n\n{\"input\": [1,2,3]}\n"), "{text}");
}

#[tokio::test]
async fn usage_errors_exit_2_and_failures_exit_1() {
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["get", ":1/", "justaword"],
            "'justaword' is not a request item",
        ),
        (vec!["get", ":1/", "n:=nope"], "not JSON"),
        (vec!["get", "ftp://example.com/"], "not http or https"),
        (vec!["get", "http://exa mple.com/"], "not a usable URL"),
        (
            vec!["post", ":1/", "doc@/no/such/file"],
            "cannot read /no/such/file",
        ),
        (vec!["get", ":1/", "--verify", "maybe"], "--verify"),
        (vec!["get", ":1/", "--http-version", "3"], "--http-version"),
        (vec!["get", ":1/", "--session", "a b"], "not a session name"),
        (vec!["request", "BAD METHOD", ":1/"], "not an HTTP method"),
    ];
    for (args, message) in cases {
        let out = cli().run(&args, b"").await;
        assert_eq!(out.code(), 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
    }

    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let out = cli().run(&["get", &format!("http://{addr}/")], b"").await;
    assert_eq!(out.code(), 1, "{out:?}");
    assert_eq!(
        out.stderr,
        format!("error: cannot connect to {addr}: connection refused (is the server running?)\n")
    );
}

#[tokio::test]
async fn download_writes_a_file_and_never_replaces_one_by_itself() {
    let (server, base, dir) = server("download").await;
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let here = cli().current_dir(&work);
    let url = format!("{base}/healthz");

    let out = here.run(&["get", "-d", &url], b"").await;
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout_text(), "", "the body went to the file");
    assert_eq!(
        std::fs::read_to_string(work.join("healthz")).unwrap(),
        r#"{"status":"ok"}"#
    );

    let out = here.run(&["get", "-d", &url], b"").await;
    assert_eq!(out.code(), 2, "{out:?}");
    assert!(
        out.stderr.contains("healthz already exists"),
        "{}",
        out.stderr
    );

    std::fs::write(work.join("chosen.json"), "old").unwrap();
    let out = here.run(&["get", &url, "-o", "chosen.json"], b"").await;
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(
        std::fs::read_to_string(work.join("chosen.json")).unwrap(),
        r#"{"status":"ok"}"#
    );
    stop(server).await;
}

#[tokio::test]
async fn tls_is_verified_unless_told_and_speaks_http2() {
    let dir = temp_dir("tls");
    let data = dir.join("data");
    let server = cli()
        .spawn_server(
            &[
                "serve",
                "--data",
                data.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--tls-self-signed",
            ],
            "application server listening",
        )
        .await;
    let url = format!("https://127.0.0.1:{}/healthz", server.addr.port());

    let out = cli().run(&["get", &url], b"").await;
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(
        out.stderr.contains("certificate is not trusted"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);

    let out = cli()
        .run(&["get", &url, "--verify", "no", "-p", "hb"], b"")
        .await;
    assert_eq!(out.code(), 0, "{out:?}");
    let text = out.stdout_text();
    assert!(text.starts_with("HTTP/2 200 OK\n"), "ALPN chose h2: {text}");
    assert!(text.ends_with(r#"{"status":"ok"}"#), "{text}");

    let out = cli()
        .run(
            &[
                "get",
                &url,
                "--verify",
                "no",
                "--http-version",
                "1.1",
                "-p",
                "h",
            ],
            b"",
        )
        .await;
    assert!(
        out.stdout_text().starts_with("HTTP/1.1 200 OK\n"),
        "{out:?}"
    );
    stop(server).await;
}

#[tokio::test]
async fn h2c_with_prior_knowledge() {
    let (server, base, _dir) = server("h2c").await;
    let out = cli()
        .run(
            &[
                "get",
                &format!("{base}/healthz"),
                "--http-version",
                "2",
                "-p",
                "h",
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stdout_text().starts_with("HTTP/2 200 OK\n"), "{out:?}");
    stop(server).await;
}
