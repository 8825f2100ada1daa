//! SIGTERM under load, for `serve`, `balance` and `up`: every request a client has sent is
//! answered (the last ones on each connection with `Connection: close`); after the signal
//! only new connections are refused, because the listener is gone.

use std::time::Duration;

use serde_json::Value;
use switchboard_testkit::ChildServer;

use crate::{cli, free_addr, start_balance, start_serve, start_up};

/// `switchboard bench URL` with 20 connections for three seconds, and SIGTERM to `target`
/// one second in; the bench's report.
async fn bench_across_sigterm(url: String, target: &ChildServer) -> Value {
    let bench = tokio::spawn(async move {
        cli()
            .run(&["bench", &url, "-c", "20", "-d", "3s", "--json"], b"")
            .await
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    target.signal("TERM").await;
    let out = bench.await.unwrap();
    assert_eq!(out.code(), 0, "{}", out.stderr);
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

/// No request failed: none read an EOF or a reset where its answer should be, none timed out,
/// none got anything but 200. Connections refused after the listener closed are not
/// requests that failed: nothing was sent on them.
fn assert_nothing_lost(report: &Value) {
    for kind in ["read", "write", "timeout", "protocol"] {
        assert_eq!(report["errors"][kind], 0, "{kind} errors: {report:#}");
    }
    let statuses = report["status"].as_object().expect("statuses");
    assert_eq!(statuses.keys().collect::<Vec<_>>(), ["200"], "{report:#}");
    assert!(
        report["requests"].as_u64().unwrap() > 100,
        "too little load to mean anything: {report:#}"
    );
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("switchboard_cli_drain_{tag}_{}", fastrand::u32(..)))
}

#[tokio::test]
async fn serve_answers_every_request_it_was_sent_across_sigterm() {
    let dir = temp_dir("serve");
    let server = start_serve("one", &dir).await;
    let report = bench_across_sigterm(format!("http://{}/add?a=1&b=2", server.addr), &server).await;
    assert_nothing_lost(&report);
    let (code, log) = server.wait(Duration::from_secs(15)).await;
    assert_eq!(code.code(), Some(0), "{log}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn balance_answers_every_request_it_was_sent_across_sigterm() {
    let dir = temp_dir("balance");
    let one = start_serve("one", &dir.join("one")).await;
    let two = start_serve("two", &dir.join("two")).await;
    let admin = free_addr().await;
    let lb = start_balance(&admin, &[&one, &two], &[]).await;
    let report = bench_across_sigterm(format!("http://{}/add?a=1&b=2", lb.addr), &lb).await;
    assert_nothing_lost(&report);
    let (code, log) = lb.wait(Duration::from_secs(15)).await;
    assert_eq!(code.code(), Some(0), "{log}");
    for server in [one, two] {
        server.signal("TERM").await;
        server.wait(Duration::from_secs(15)).await;
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn up_answers_every_request_it_was_sent_across_sigterm() {
    let dir = temp_dir("up");
    let (admin, echo) = (free_addr().await, free_addr().await);
    let data = dir.to_str().unwrap().to_string();
    let up = start_up("2", &admin, &echo, &["--data", &data]).await;
    let report = bench_across_sigterm(format!("http://{}/add?a=1&b=2", up.addr), &up).await;
    assert_nothing_lost(&report);
    let (code, log) = up.wait(Duration::from_secs(20)).await;
    assert_eq!(code.code(), Some(0), "{log}");
    let _ = std::fs::remove_dir_all(dir);
}
