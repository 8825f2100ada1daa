//! The admin API over real HTTP.

use std::sync::Arc;

use switchboard_balancer::admin::{self, AdminState};
use switchboard_balancer::{Backend, Outcome, Pool, StrategyKind};
use switchboard_http::{HttpServer, Limits};
use switchboard_testkit::{http_get, Running, Shutdown};

#[tokio::test]
async fn status_and_metrics_report_every_backend() {
    let pool = Arc::new(Pool::new(
        vec![
            Backend::new("127.0.0.1:9001", 1),
            Backend::new("127.0.0.1:9002", 3),
        ],
        StrategyKind::LeastConnections,
    ));
    let backends = pool.backends();
    backends[0].lease().finish(Outcome::Answered);
    backends[1].lease().finish(Outcome::Failed);
    backends[1].set_healthy(false);
    let _held = backends[0].lease();

    let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), None, Limits::default()).unwrap();
    let addr = server.local_addr();
    let shutdown = Shutdown::new();
    let router = admin::router(AdminState {
        pool: pool.clone(),
        mode: "http",
    });
    let running = Running::spawn(addr, shutdown.clone(), server.serve(router, shutdown));

    let status = http_get(addr, "/status").await;
    let body = status.split_once("\r\n\r\n").unwrap().1;
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["strategy"], "least-connections");
    assert_eq!(json["mode"], "http");
    let b = json["backends"].as_array().unwrap();
    assert_eq!(b.len(), 2);
    assert_eq!(b[0]["addr"], "127.0.0.1:9001");
    assert_eq!(b[0]["in_flight"], 1);
    assert_eq!(b[0]["total"], 2);
    assert_eq!(b[1]["healthy"], false);
    assert_eq!(b[1]["weight"], 3);
    assert_eq!(b[1]["errors"], 1);

    pool.set_strategy(StrategyKind::IpHash);
    assert!(http_get(addr, "/status")
        .await
        .contains("\"strategy\":\"ip-hash\""));

    let metrics = http_get(addr, "/metrics").await;
    for line in [
        "switchboard_balancer_backend_up{backend=\"127.0.0.1:9002\"} 0",
        "switchboard_balancer_backend_in_flight{backend=\"127.0.0.1:9001\"} 1",
        "switchboard_balancer_backend_requests_total{backend=\"127.0.0.1:9001\"} 2",
        "switchboard_balancer_backend_errors_total{backend=\"127.0.0.1:9002\"} 1",
    ] {
        assert!(metrics.contains(line), "missing {line}:\n{metrics}");
    }
    running.stop().await.unwrap();
}
