//! `/api/admin/jobs` and the jobs' lines in `/metrics`, from runs recorded in the database; the
//! request statistics flushed to the database for the daily report.

use reqwest::StatusCode;
use switchboard_store::{JobOutcome, JobTrigger, Timestamp};

use crate::{both_backends, create_admin, start, Backend, Client, PASSWORD};

both_backends!(
    admins_see_the_jobs_runs,
    request_statistics_reach_the_database
);

async fn admins_see_the_jobs_runs(backend: Backend) {
    let app = start(backend).await;
    let store = app.app.store().clone();
    let at = |s: i64| Timestamp::from_millis(1_800_000_000_000 + s * 1000);
    let ok = store
        .start_job_run(
            "backup",
            JobTrigger::Schedule,
            "server-1",
            Some(at(0)),
            at(0),
        )
        .await
        .unwrap()
        .unwrap();
    store
        .finish_job_run(
            ok,
            at(3),
            JobOutcome::Ok,
            Some(4096),
            Some("b.backup"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .start_job_run(
                "backup",
                JobTrigger::Schedule,
                "server-2",
                Some(at(0)),
                at(0)
            )
            .await
            .unwrap(),
        None,
        "a slot runs once"
    );
    let failed = store
        .start_job_run("backup", JobTrigger::Manual, "cli", None, at(10))
        .await
        .unwrap()
        .unwrap();
    store
        .finish_job_run(
            failed,
            at(11),
            JobOutcome::Failed,
            None,
            None,
            Some("pg_dump is not on the PATH"),
        )
        .await
        .unwrap();

    let anonymous = Client::new(&app);
    assert_eq!(
        anonymous.get("/api/admin/jobs").await.status,
        StatusCode::UNAUTHORIZED
    );
    let mut ann = Client::new(&app);
    ann.register("ann", PASSWORD).await;
    ann.login("ann", PASSWORD).await;
    assert_eq!(
        ann.get("/api/admin/jobs").await.status,
        StatusCode::FORBIDDEN
    );

    create_admin(&app, "root", PASSWORD).await;
    let mut root = Client::new(&app);
    root.login("root", PASSWORD).await;
    let answer = root.get("/api/admin/jobs").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let body = answer.json();
    let runs = body["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["outcome"], "failed", "newest first");
    assert_eq!(runs[0]["trigger"], "manual");
    assert_eq!(runs[0]["error"], "pg_dump is not on the PATH");
    assert_eq!(runs[1]["outcome"], "ok");
    assert_eq!(runs[1]["bytes"], 4096);
    assert_eq!(runs[1]["duration_ms"], 3000);
    assert_eq!(runs[1]["runner"], "server-1");
    let job = &body["jobs"][0];
    assert_eq!(job["job"], "backup");
    assert_eq!(job["runs"]["ok"], 1);
    assert_eq!(job["runs"]["failed"], 1);
    assert_eq!(job["last_run"]["id"], failed);
    assert_eq!(job["last_success_at"], at(3).to_rfc3339());
    assert_eq!(
        root.get("/api/admin/jobs?job=report").await.json()["runs"],
        serde_json::json!([])
    );
    assert_eq!(
        root.get("/api/admin/jobs?limit=0").await.status,
        StatusCode::BAD_REQUEST
    );

    let metrics = root.get("/metrics").await.text();
    for line in [
        "switchboard_job_runs{job=\"backup\",outcome=\"ok\"} 1",
        "switchboard_job_runs{job=\"backup\",outcome=\"failed\"} 1",
        "switchboard_job_last_run_ok{job=\"backup\"} 0",
        "switchboard_job_last_success_timestamp_seconds{job=\"backup\"} 1800000003",
        "switchboard_job_last_duration_seconds{job=\"backup\"} 1",
    ] {
        assert!(metrics.contains(line), "missing {line} in:\n{metrics}");
    }
    app.running.stop().await.unwrap();
}

async fn request_statistics_reach_the_database(backend: Backend) {
    let app = start(backend).await;
    let c = Client::new(&app);
    for _ in 0..3 {
        c.get("/add?a=1&b=2").await;
    }
    c.get("/add?a=x").await;
    app.app.flush_request_stats().await.unwrap();
    c.get("/add?a=2&b=2").await;
    app.app.flush_request_stats().await.unwrap();
    app.app.flush_request_stats().await.unwrap(); // nothing new: adds nothing

    let from = Timestamp::from_millis(0);
    let to = Timestamp::from_millis(i64::MAX);
    let counts = app.app.store().request_counts(from, to).await.unwrap();
    let add: Vec<(u16, u64)> = counts
        .iter()
        .filter(|c| c.route == "/add")
        .map(|c| (c.status, c.count))
        .collect();
    assert_eq!(add, [(200, 4), (400, 1)]);
    let hour = counts[0].hour.as_millis();
    assert_eq!(hour % 3_600_000, 0, "an hour's start");
    let latency = app.app.store().request_latency(from, to).await.unwrap();
    let timed: u64 = latency
        .iter()
        .filter(|l| l.route == "/add")
        .map(|l| l.count)
        .sum();
    assert_eq!(timed, 5);
    app.running.stop().await.unwrap();
}
