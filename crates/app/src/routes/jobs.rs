//! `GET /api/admin/jobs`: the scheduled jobs' runs, for admins. The runs are in the database,
//! so any server answers for the whole cluster, whichever of them ran the jobs.

use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_store::{JobRun, Role};

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::App;

/// `GET /api/admin/jobs` parameters.
#[derive(Deserialize)]
pub struct Filter {
    job: Option<String>,
    limit: Option<u32>,
}

fn run_json(run: &JobRun) -> Value {
    json!({
        "id": run.id,
        "job": run.job,
        "trigger": run.trigger.as_str(),
        "runner": run.runner,
        "scheduled_for": run.scheduled_for.map(|t| t.to_rfc3339()),
        "started_at": run.started_at.to_rfc3339(),
        "finished_at": run.finished_at.map(|t| t.to_rfc3339()),
        "duration_ms": run.finished_at.map(|f| f.as_millis() - run.started_at.as_millis()),
        "outcome": run.outcome.as_str(),
        "bytes": run.bytes,
        "detail": run.detail,
        "error": run.error,
    })
}

/// `GET /api/admin/jobs?job=&limit=`: each job's counts and latest run, and the latest runs.
pub async fn list(
    State(app): State<App>,
    auth: Authenticated,
    filter: Result<Query<Filter>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    if auth.user.role != Role::Admin {
        return Err(ApiError::forbidden("only admins may see the jobs"));
    }
    let Query(filter) = filter.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = filter.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be from 1 to 1000"));
    }
    let runs = app.store().job_runs(filter.job.as_deref(), limit).await?;
    let summaries = app.store().job_summaries().await?;
    let jobs: Vec<Value> = summaries
        .iter()
        .filter(|s| filter.job.as_deref().is_none_or(|j| j == s.job))
        .map(|s| {
            let runs: serde_json::Map<String, Value> = s
                .runs
                .iter()
                .map(|(outcome, n)| (outcome.as_str().to_owned(), json!(n)))
                .collect();
            json!({
                "job": s.job,
                "runs": runs,
                "last_run": run_json(&s.last),
                "last_success_at": s.last_success.map(|t| t.to_rfc3339()),
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "jobs": jobs,
        "runs": runs.iter().map(run_json).collect::<Vec<_>>(),
    })))
}
