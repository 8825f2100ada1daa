//! `switchboard serve` and `switchboard users`: settings from flags, environment and file;
//! exit statuses; signals.

use std::time::Duration;

use switchboard_testkit::http_get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::cli;

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchboard_cli_{tag}_{}_{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn serves_with_flags_over_environment_over_file() {
    let dir = temp_dir("layers");
    let file = dir.join("switchboard.toml");
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:0\"\nname = \"from-file\"\nbody-limit = \"2K\"\ndata = \"{}\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let config = file.to_str().unwrap();

    // The file alone.
    let server = cli()
        .spawn_server(
            &["serve", "--config", config],
            "application server listening",
        )
        .await;
    let answer = http_get(server.addr, "/healthz").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("x-served-by: from-file"), "{answer}");
    server.signal("TERM").await;
    let (status, _) = server.wait(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0));
    assert!(
        dir.join("data/switchboard.db").exists(),
        "the data directory holds the database"
    );

    // The environment beats the file; a flag beats the environment.
    let server = crate::cli_with_env(&[("SWITCHBOARD_NAME", "from-env")])
        .spawn_server(
            &["serve", "--config", config],
            "application server listening",
        )
        .await;
    assert!(http_get(server.addr, "/healthz")
        .await
        .contains("x-served-by: from-env"));
    server.signal("TERM").await;
    server.wait(Duration::from_secs(15)).await;
    let server = crate::cli_with_env(&[("SWITCHBOARD_NAME", "from-env")])
        .spawn_server(
            &["serve", "--config", config, "--name", "from-flag"],
            "application server listening",
        )
        .await;
    assert!(http_get(server.addr, "/healthz")
        .await
        .contains("x-served-by: from-flag"));
    server.signal("INT").await;
    let (status, _) = server.wait(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn bad_settings_are_one_line_and_exit_2() {
    let dir = temp_dir("bad");
    let unknown = dir.join("unknown.toml");
    std::fs::write(&unknown, "lisen = \"127.0.0.1:1\"\n").unwrap();
    let broken = dir.join("broken.toml");
    std::fs::write(&broken, "listen = \n").unwrap();
    let bad_value = dir.join("value.toml");
    std::fs::write(&bad_value, "grace = \"soon\"\n").unwrap();
    let data = dir.join("data");
    let data = data.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--config", unknown.to_str().unwrap()],
            "unknown field `lisen`",
        ),
        (vec!["--config", broken.to_str().unwrap()], "config file"),
        (
            vec!["--config", bad_value.to_str().unwrap()],
            "grace: 'soon' is not a duration",
        ),
        (
            vec!["--config", "/no/such/file.toml"],
            "cannot read config file /no/such/file.toml",
        ),
        (vec!["--body-limit", "lots"], "'lots' is not a size"),
        (
            vec!["--listen", "nowhere"],
            "--listen: 'nowhere' is not HOST:PORT",
        ),
        (vec!["--database", "mysql://x/y"], "--database:"),
        (
            vec!["--tls-cert", "/no/cert.pem", "--tls-key", "/no/key.pem"],
            "cannot read TLS certificate /no/cert.pem",
        ),
        (vec!["--tls-cert", "/no/cert.pem"], "--tls-key"),
        (vec!["--site", "/no/such/site"], "--site /no/such/site"),
        (
            vec!["--session-idle", "0"],
            "session lifetimes must be more than zero",
        ),
    ];
    for (args, says) in cases {
        let mut full = vec!["serve", "--data", data];
        if !args.contains(&"--listen") {
            full.extend(["--listen", "127.0.0.1:0"]);
        }
        full.extend(args.iter());
        let out = cli().run(&full, b"").await;
        assert_eq!(out.code(), 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
        let errors = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("error"))
            .count();
        assert_eq!(errors, 1, "{args:?}: {}", out.stderr);
    }
}

#[tokio::test]
async fn runtime_failures_exit_1() {
    let dir = temp_dir("runtime");
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let data = dir.join("data");
    let out = cli()
        .run(
            &["serve", "--data", data.to_str().unwrap(), "--listen", &addr],
            b"",
        )
        .await;
    assert_eq!(out.code(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("address already in use"),
        "{}",
        out.stderr
    );

    let out = cli()
        .run(
            &[
                "serve",
                "--database",
                "postgres://postgres@127.0.0.1:1/test",
                "--listen",
                "127.0.0.1:0",
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("error: cannot open the database"),
        "{}",
        out.stderr
    );

    // A data directory that cannot be created.
    let blocker = dir.join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let out = cli()
        .run(
            &[
                "serve",
                "--data",
                blocker.join("data").to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("error: cannot open the database"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn users_create_makes_the_first_admin() {
    let dir = temp_dir("users");
    let data = dir.join("data");
    let data = data.to_str().unwrap();
    let out = cli()
        .run(
            &["users", "create", "root", "--admin", "--data", data],
            b"a very long passphrase\n",
        )
        .await;
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.stdout_text(), "created admin 'root' (id 1)\n");

    let again = cli()
        .run(
            &["users", "create", "ROOT", "--data", data],
            b"another long passphrase\n",
        )
        .await;
    assert_eq!(again.code(), 1, "{}", again.stderr);
    assert_eq!(again.stderr.trim(), "error: username 'ROOT' is taken");

    for (name, input, says) in [
        (
            "bob",
            &b"short\n"[..],
            "password must be at least 12 characters long",
        ),
        ("bob", &b""[..], "no password on standard input"),
        (
            "b b",
            &b"a very long passphrase\n"[..],
            "username may contain only",
        ),
    ] {
        let out = cli()
            .run(&["users", "create", name, "--data", data], input)
            .await;
        assert_eq!(out.code(), 2, "{name}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{}", out.stderr);
    }

    // The admin signs in to a server on the same database and lists users.
    let server = cli()
        .spawn_server(
            &["serve", "--data", data, "--listen", "127.0.0.1:0"],
            "application server listening",
        )
        .await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let body = r#"{"username":"root","password":"a very long passphrase"}"#;
    let req = format!(
        "POST /login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("\"role\":\"admin\""), "{out}");
    server.signal("TERM").await;
    server.wait(Duration::from_secs(15)).await;
}

#[tokio::test]
async fn users_create_works_on_postgres_too() {
    let Some(url) = std::env::var("SWITCHBOARD_TEST_POSTGRES").ok() else {
        eprintln!("skipped: SWITCHBOARD_TEST_POSTGRES is not set, so users_create_works_on_postgres_too did not run");
        return;
    };
    let name = format!("pg{}", fastrand::u32(..));
    let out = cli()
        .run(
            &["users", "create", &name, "--database", &url],
            b"a very long passphrase\n",
        )
        .await;
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(out
        .stdout_text()
        .starts_with(&format!("created user '{name}'")));
}

#[tokio::test]
async fn serves_https_with_a_self_signed_certificate() {
    let dir = temp_dir("tls");
    let data = dir.join("data");
    let server = cli()
        .spawn_server(
            &[
                "serve",
                "--tls-self-signed",
                "--data",
                data.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ],
            "application server listening",
        )
        .await;
    // Plain HTTP gets no HTTP answer from a TLS port.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    assert!(!out.starts_with(b"HTTP/1.1 200"));
    server.signal("TERM").await;
    let (status, log) = server.wait(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0), "{log}");
}

#[tokio::test]
async fn posts_per_minute_sets_the_feeds_limit() {
    use crate::crash::{call, Answer};
    let out = cli().run(&["serve", "--posts-per-minute", "0"], b"").await;
    assert_eq!(out.code(), 2, "{}", out.stderr);
    let dir = std::env::temp_dir().join(format!("switchboard_cli_ppm_{}", fastrand::u32(..)));
    let server = cli()
        .spawn_server(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data",
                dir.to_str().unwrap(),
                "--posts-per-minute",
                "2",
            ],
            "application server listening",
        )
        .await;
    let body = r#"{"username":"poster","password":"a long passphrase"}"#;
    let made = call(server.addr, "POST", "/api/users", &[], body).await;
    assert!(matches!(made, Answer::Status(201, _)), "{made:?}");
    let Answer::Status(200, login) = call(server.addr, "POST", "/login", &[], body).await else {
        panic!("sign-in failed");
    };
    let token: serde_json::Value = serde_json::from_str(&login).unwrap();
    let bearer = format!("Bearer {}", token["token"].as_str().unwrap());
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let post = r#"{"text":"hello"}"#;
        match call(
            server.addr,
            "POST",
            "/api/posts",
            &[("Authorization", &bearer)],
            post,
        )
        .await
        {
            Answer::Status(status, _) => statuses.push(status),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(statuses, [201, 201, 429]);
    server.signal("TERM").await;
    server.wait(std::time::Duration::from_secs(30)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn feed_retention_below_the_posting_window_is_refused() {
    for bad in ["30s", "soon"] {
        let out = cli().run(&["serve", "--feed-retention", bad], b"").await;
        assert_eq!(out.code(), 2, "{bad}: {}", out.stderr);
        assert!(
            out.stderr.contains("feed-retention"),
            "{bad}: {}",
            out.stderr
        );
    }
    let out = cli().run(&["serve", "--feed-retention", "30s"], b"").await;
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
}

/// A quiet event stream is not cut by a short idle timeout: its keep-alive comments come
/// more often than the idle timeout (here 1 s), whatever the feed's own interval (15 s).
#[tokio::test]
async fn a_quiet_event_stream_outlives_a_short_idle_timeout() {
    use crate::crash::{call, Answer};
    let dir = std::env::temp_dir().join(format!("switchboard_cli_idle_{}", fastrand::u32(..)));
    let server = cli()
        .spawn_server(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data",
                dir.to_str().unwrap(),
                "--idle-timeout",
                "1s",
            ],
            "application server listening",
        )
        .await;
    let body = r#"{"username":"listener","password":"a long passphrase"}"#;
    let made = call(server.addr, "POST", "/api/users", &[], body).await;
    assert!(matches!(made, Answer::Status(201, _)), "{made:?}");
    let Answer::Status(200, login) = call(server.addr, "POST", "/login", &[], body).await else {
        panic!("sign-in failed");
    };
    let token: serde_json::Value = serde_json::from_str(&login).unwrap();
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /api/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\r\n",
        token["token"].as_str().unwrap()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // Four idle periods with nothing posted: the stream stays open, kept alive.
    let mut got = Vec::new();
    let listen = async {
        let mut chunk = [0; 4096];
        loop {
            let n = stream.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                return false;
            }
            got.extend_from_slice(&chunk[..n]);
        }
    };
    let ended = tokio::time::timeout(Duration::from_secs(4), listen).await;
    let text = String::from_utf8_lossy(&got);
    assert!(ended.is_err(), "the stream was cut: {text:?}");
    assert!(text.starts_with("HTTP/1.1 200"), "{text:?}");
    assert!(
        text.matches("\n:").count() >= 4,
        "keep-alive comments: {text:?}"
    );
    server.signal("TERM").await;
    server.wait(Duration::from_secs(30)).await;
    let _ = std::fs::remove_dir_all(&dir);
}
