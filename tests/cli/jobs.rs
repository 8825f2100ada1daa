//! The scheduled jobs as an operator meets them: `backup now`, `backup list`, `restore` (and
//! its refusals), `report now`, and the scheduler of two servers on one PostgreSQL database.

use std::path::{Path, PathBuf};
use std::time::Duration;

use switchboard_testkit::{ChildServer, PgDatabase};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cli;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchboard_cli_jobs_{tag}_{}_{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `POST path` with a JSON body; the status code.
async fn post_json(addr: std::net::SocketAddr, path: &str, body: &str) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer}"))
}

async fn create_user(data: &Path, name: &str) {
    let out = cli()
        .run(
            &["users", "create", name, "--data", data.to_str().unwrap()],
            b"a long passphrase\n",
        )
        .await;
    assert_eq!(out.code(), 0, "{}", out.stderr);
}

/// The one backup file in `dir`.
fn only_backup(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "backup"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[tokio::test]
async fn backup_list_and_restore_a_sqlite_database_a_server_is_using() {
    let dir = temp_dir("sqlite");
    let data = dir.join("data");
    let backups = dir.join("backups");
    create_user(&data, "ann").await;
    let server = crate::start_serve("server-1", &data).await;

    let (data_arg, backups_arg) = (data.to_str().unwrap(), backups.to_str().unwrap());
    let out = cli()
        .run(
            &[
                "backup",
                "now",
                "--data",
                data_arg,
                "--backup-dir",
                backups_arg,
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(
        out.stdout_text().starts_with("backup written in "),
        "{}",
        out.stdout_text()
    );
    let file = only_backup(&backups);
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("switchboard-") && name.ends_with(".sqlite.backup"),
        "{name}"
    );

    let out = cli()
        .run(
            &["backup", "list", "--backup-dir", backups_arg, "--verify"],
            b"",
        )
        .await;
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let listing = out.stdout_text();
    assert!(
        listing.contains(&name) && listing.contains(" sqlite "),
        "{listing}"
    );
    assert!(listing.trim_end().ends_with("ok"), "{listing}");

    // Over the live database: refused, first for holding data, then (forced) for being in use.
    let live = format!("sqlite://{}", data.join("switchboard.db").display());
    let file_arg = file.to_str().unwrap();
    let out = cli()
        .run(&["restore", file_arg, "--database", &live], b"")
        .await;
    assert_eq!(out.code(), 1);
    assert!(
        out.stderr.contains("not empty") && out.stderr.contains("--force"),
        "{}",
        out.stderr
    );
    let out = cli()
        .run(&["restore", file_arg, "--database", &live, "--force"], b"")
        .await;
    assert_eq!(out.code(), 1);
    assert!(
        out.stderr.contains("in use by a running server"),
        "{}",
        out.stderr
    );
    server.signal("TERM").await;
    server.wait(Duration::from_secs(15)).await;

    // Into a fresh file: done, and said what.
    let fresh = format!("sqlite://{}", dir.join("fresh.db").display());
    let out = cli()
        .run(&["restore", file_arg, "--database", &fresh], b"")
        .await;
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let said = out.stdout_text();
    assert!(said.starts_with("restored sqlite backup "), "{said}");
    assert!(said.contains("users 1"), "{said}");

    // A damaged copy: one line, exit 1, the target as it was.
    let before = std::fs::read(dir.join("fresh.db")).unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    for (what, damaged) in [
        ("flipped", {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x20;
            bytes.clone()
        }),
        ("truncated", bytes[..bytes.len() / 3].to_vec()),
    ] {
        let bad = dir.join(format!("{what}.backup"));
        std::fs::write(&bad, damaged).unwrap();
        let out = cli()
            .run(
                &[
                    "restore",
                    bad.to_str().unwrap(),
                    "--database",
                    &fresh,
                    "--force",
                ],
                b"",
            )
            .await;
        assert_eq!(out.code(), 1, "{what}: {}", out.stderr);
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{what}: {}", out.stderr);
        assert!(
            errors[0].contains("checksum mismatch") || errors[0].contains("truncated"),
            "{what}: {}",
            errors[0]
        );
        assert_eq!(
            std::fs::read(dir.join("fresh.db")).unwrap(),
            before,
            "{what}: untouched"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_postgres_backup_needs_pg_dump_and_restores_into_another_database() {
    let Some(db) =
        PgDatabase::create("a_postgres_backup_needs_pg_dump_and_restores_into_another_database")
    else {
        return;
    };
    let dir = temp_dir("postgres");
    let backups = dir.join("backups");
    let backups_arg = backups.to_str().unwrap();
    let out = cli()
        .env("PATH", "/nonexistent")
        .run(
            &[
                "backup",
                "now",
                "--database",
                &db.url,
                "--backup-dir",
                backups_arg,
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 1);
    assert!(
        out.stderr.contains("pg_dump is not on the PATH"),
        "{}",
        out.stderr
    );

    let out = cli()
        .run(
            &["users", "create", "ann", "--database", &db.url],
            b"a long passphrase\n",
        )
        .await;
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let out = cli()
        .run(
            &[
                "backup",
                "now",
                "--database",
                &db.url,
                "--backup-dir",
                backups_arg,
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let file = only_backup(&backups);
    assert!(file.to_string_lossy().ends_with(".postgres.backup"));

    let other = db.sibling("restored");
    let out = cli()
        .run(
            &["restore", file.to_str().unwrap(), "--database", &other.url],
            b"",
        )
        .await;
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(
        out.stdout_text().contains("users 1"),
        "{}",
        out.stdout_text()
    );
    assert_eq!(other.query("SELECT username FROM users"), "ann");
    // Both runs of the backup job are recorded, the failed one with its reason.
    assert_eq!(
        db.query(
            "SELECT outcome || ':' || triggered_by FROM job_runs WHERE job = 'backup' ORDER BY id"
        ),
        "failed:manual\nok:manual"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

async fn start_on(db: &PgDatabase, name: &str) -> ChildServer {
    cli()
        .spawn_server(
            &[
                "serve",
                "--name",
                name,
                "--database",
                &db.url,
                "--listen",
                "127.0.0.1:0",
                "--cleanup-schedule",
                "* * * * * *",
            ],
            "application server listening",
        )
        .await
}

/// (slot, runs of it, runners) for every slot the clean-up ran for.
fn cleanup_runs(db: &PgDatabase) -> Vec<(String, u32, String)> {
    db.query(
        "SELECT scheduled_for, count(*), string_agg(runner, ',') FROM job_runs \
         WHERE job = 'cleanup' GROUP BY scheduled_for ORDER BY scheduled_for",
    )
    .lines()
    .map(|line| {
        let mut parts = line.split('|');
        (
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().parse().unwrap(),
            parts.next().unwrap().to_owned(),
        )
    })
    .collect()
}

#[tokio::test]
async fn two_servers_run_a_scheduled_job_once_and_the_survivor_takes_over() {
    let Some(db) =
        PgDatabase::create("two_servers_run_a_scheduled_job_once_and_the_survivor_takes_over")
    else {
        return;
    };
    let a = start_on(&db, "server-a").await;
    let b = start_on(&db, "server-b").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while cleanup_runs(&db).len() < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no runs: {:?}",
            cleanup_runs(&db)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let runs = cleanup_runs(&db);
    assert!(
        runs.iter().all(|(_, n, _)| *n == 1),
        "a slot ran twice: {runs:?}"
    );
    let leader = runs[0].2.clone();
    assert!(
        runs.iter().all(|(_, _, runner)| *runner == leader),
        "one server runs the jobs: {runs:?}"
    );
    let (dead, survivor, other) = if leader == "server-a" {
        (a, b, "server-b")
    } else {
        (b, a, "server-a")
    };
    dead.signal("KILL").await;
    let _ = dead.wait(Duration::from_secs(10)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let runs = cleanup_runs(&db);
        if runs.iter().filter(|(_, _, r)| r == other).count() >= 2 {
            assert!(
                runs.iter().all(|(_, n, _)| *n == 1),
                "a slot ran twice: {runs:?}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{other} did not take over: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    survivor.signal("TERM").await;
    let (status, log) = survivor.wait(Duration::from_secs(15)).await;
    assert!(status.success(), "{log}");
}

#[tokio::test]
async fn the_report_counts_the_requests_made() {
    let dir = temp_dir("report");
    let data = dir.join("data");
    let reports = dir.join("reports");
    let server = crate::start_serve("server-1", &data).await;
    let addr = server.addr;
    for name in ["ann", "bob"] {
        let body = format!(r#"{{"username":"{name}","password":"a long passphrase"}}"#);
        assert_eq!(post_json(addr, "/api/users", &body).await, 201);
    }
    let good = r#"{"username":"ann","password":"a long passphrase"}"#;
    let bad = r#"{"username":"ann","password":"not the passphrase"}"#;
    assert_eq!(post_json(addr, "/login", good).await, 200);
    assert_eq!(post_json(addr, "/login", bad).await, 401);
    assert_eq!(post_json(addr, "/login", bad).await, 401);
    for _ in 0..5 {
        assert!(switchboard_testkit::http_get(addr, "/add?a=1&b=2")
            .await
            .starts_with("HTTP/1.1 200"));
    }
    for _ in 0..2 {
        assert!(switchboard_testkit::http_get(addr, "/add?a=x")
            .await
            .starts_with("HTTP/1.1 400"));
    }
    // Stopping flushes the server's counts to the database.
    server.signal("TERM").await;
    let (status, log) = server.wait(Duration::from_secs(15)).await;
    assert!(status.success(), "{log}");

    let out = cli()
        .run(
            &[
                "report",
                "now",
                "--data",
                data.to_str().unwrap(),
                "--report-dir",
                reports.to_str().unwrap(),
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let json = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a JSON report");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["new_users"], 2, "{report:#}");
    assert_eq!(report["sign_ins"], 1);
    assert_eq!(report["sign_in_failures"], 2);
    assert_eq!(report["requests"], 2 + 3 + 7);
    assert_eq!(report["client_errors"], 4);
    let route = |name: &str| {
        report["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["route"] == name)
            .unwrap_or_else(|| panic!("no {name} in {report:#}"))
            .clone()
    };
    assert_eq!(route("/add")["requests"], 7);
    assert_eq!(route("/add")["client_errors"], 2);
    assert_eq!(route("/login")["requests"], 3);
    assert_eq!(route("/api/users")["requests"], 2);
    let (p50, p99) = (
        route("/add")["p50_ms"].as_f64().unwrap(),
        route("/add")["p99_ms"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p99 >= p50, "{p50} {p99}");
    let hourly: u64 = report["hours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(hourly, 12);

    let html = std::fs::read_to_string(json.with_extension("html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains("/api/users"),
        "{html}"
    );
    assert!(
        !html.contains("<script") && !html.contains("src=\"http") && !html.contains("href=\"http")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn scheduled_backups_from_the_config_file_keep_what_the_rules_say() {
    let dir = temp_dir("scheduled");
    let backups = dir.join("backups");
    let config = dir.join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata = \"{}\"\nbackup-dir = \"{}\"\n\n[jobs.backup]\n\
             schedule = \"* * * * * *\"\nkeep_last = 2\n",
            dir.join("data").display(),
            backups.display()
        ),
    )
    .unwrap();
    let server = cli()
        .spawn_server(
            &["serve", "--config", config.to_str().unwrap()],
            "application server listening",
        )
        .await;
    let count = || {
        std::fs::read_dir(&backups).map_or(0, |d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".sqlite.backup"))
            })
            .count()
        })
    };
    // A backup a second, the rules keeping two: after four seconds, two.
    tokio::time::sleep(Duration::from_secs(4)).await;
    server.signal("TERM").await;
    let (status, log) = server.wait(Duration::from_secs(15)).await;
    assert!(status.success(), "{log}");
    assert!(log.contains("old backup deleted"), "{log}");
    assert_eq!(count(), 2, "{log}");

    // A schedule that is not one: a usage error, in one line.
    std::fs::write(&config, "[jobs.backup]\nschedule = \"at three\"\n").unwrap();
    let out = cli()
        .run(
            &[
                "serve",
                "--config",
                config.to_str().unwrap(),
                "--backup-dir",
                "x",
            ],
            b"",
        )
        .await;
    assert_eq!(out.code(), 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("'at three' is not a cron schedule"),
        "{}",
        out.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}
