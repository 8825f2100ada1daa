//! Faults between the balancer and one of its three backends, injected by a
//! [`FaultProxy`] in front of it. For each fault, the failed client requests are exactly what
//! the retry rules allow: a POST that reached the faulty backend is answered 502 (504 when
//! nothing came back in time) and never sent twice; a bodiless GET fails never (it is sent
//! again to another backend); the faulty backend is taken out by the health checks and
//! rejoins when it mends. A slow backend is given less traffic, not ejected.

use switchboard_balancer::health::{self, HealthConfig, Probe};
use switchboard_testkit::faults::{Fault, FaultProxy};
use tokio::task::JoinHandle;

use super::*;

/// Three backends, the second behind a fault proxy, and the balancer in front.
struct Rig {
    backends: Vec<TestBackend>,
    proxy: FaultProxy,
    lb: Running,
    pool: Arc<Pool>,
}

/// A rig whose balancer waits 300 ms for an answer.
async fn rig(kind: StrategyKind) -> Rig {
    let config = HttpProxyConfig {
        connect_timeout: Duration::from_millis(500),
        response_timeout: Duration::from_millis(300),
        ..HttpProxyConfig::default()
    };
    rig_with(kind, config).await
}

async fn rig_with(kind: StrategyKind, config: HttpProxyConfig) -> Rig {
    let backends: Vec<TestBackend> = ["A", "B", "C"].into_iter().map(start_backend).collect();
    let proxy = FaultProxy::start(backends[1].running.addr).await.unwrap();
    let addrs = [
        (backends[0].running.addr, 1),
        (proxy.addr(), 1),
        (backends[2].running.addr, 1),
    ];
    let (lb, pool) = balancer_with(&addrs, kind, config);
    Rig {
        backends,
        proxy,
        lb,
        pool,
    }
}

impl Rig {
    /// Requests each backend's handler has run.
    fn seen(&self) -> Vec<u64> {
        self.backends
            .iter()
            .map(|b| b.seen.load(Ordering::SeqCst))
            .collect()
    }

    /// Active HTTP checks of every backend, fast enough for a test.
    fn check_health(&self) -> Vec<JoinHandle<()>> {
        let config = HealthConfig {
            probe: Probe::Http {
                path: "/health".into(),
            },
            interval: Duration::from_millis(50),
            timeout: Duration::from_millis(200),
            rise: 2,
            fall: 2,
        };
        self.pool
            .backends()
            .iter()
            .map(|b| tokio::spawn(health::run(b.clone(), config.clone())))
            .collect()
    }

    /// Waits until the faulty backend's health is `healthy`.
    async fn until_faulty_is(&self, healthy: bool) {
        let faulty = self.pool.backends()[1].clone();
        let start = tokio::time::Instant::now();
        while faulty.is_healthy() != healthy {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "the faulty backend not {} within 5 s",
                if healthy { "back" } else { "out" }
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn post(addr: SocketAddr) -> u16 {
    let request = "POST /p HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\n\
                   Connection: close\r\n\r\nhello";
    send(addr, request).await.0
}

/// Runs the whole story for one fault: POSTs, GETs, ejection, rejoining.
async fn story(fault: Fault, post_status: u16, post_reaches_backend: bool) {
    let rig = rig(StrategyKind::RoundRobin).await;
    rig.proxy.set(fault);

    // 30 POSTs, round robin over three: ten meet the fault, and each is answered once.
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(post(rig.lb.addr).await);
    }
    let failed: Vec<u16> = statuses.iter().copied().filter(|s| *s != 200).collect();
    assert_eq!(failed, vec![post_status; 10], "{fault:?}: {statuses:?}");
    let seen = rig.seen();
    let expected_b = if post_reaches_backend { 10 } else { 0 };
    assert_eq!(
        seen,
        [10, expected_b, 10],
        "{fault:?}: no POST was sent twice"
    );

    // 30 GETs: every one answered, those that met the fault sent again elsewhere.
    for i in 0..30 {
        let (status, _) = fetch(rig.lb.addr, "/").await;
        assert_eq!(status, 200, "{fault:?}: GET {i}");
    }

    // The health checks take the faulty backend out, and then it gets nothing.
    let checks = rig.check_health();
    rig.until_faulty_is(false).await;
    let total = rig.pool.backends()[1].total();
    for _ in 0..15 {
        assert_eq!(fetch(rig.lb.addr, "/").await.0, 200);
    }
    assert_eq!(
        rig.pool.backends()[1].total(),
        total,
        "{fault:?}: out means out"
    );

    // Mended, it rejoins and takes its share again.
    rig.proxy.set(Fault::None);
    rig.until_faulty_is(true).await;
    let total = rig.pool.backends()[1].total();
    for _ in 0..15 {
        assert_eq!(fetch(rig.lb.addr, "/").await.0, 200);
    }
    assert_eq!(
        rig.pool.backends()[1].total(),
        total + 5,
        "{fault:?}: back in"
    );
    for check in checks {
        check.abort();
    }
    rig.lb.stop().await.unwrap();
}

#[tokio::test]
async fn a_reset_before_the_answer() {
    story(Fault::ResetBeforeResponse, 502, false).await;
}

#[tokio::test]
async fn a_reset_in_the_middle_of_the_answer_head() {
    story(Fault::ResetMidResponse(5), 502, true).await;
}

#[tokio::test]
async fn an_answer_cut_short_in_its_head() {
    story(Fault::CutShort(5), 502, true).await;
}

#[tokio::test]
async fn a_black_hole() {
    story(Fault::Blackhole, 504, false).await;
}

/// A backend whose answer breaks off after its head was relayed: the client cannot be given
/// another answer, so its connection is cut short of the promised length (never a short body
/// passed off as whole), and the failure is counted on the backend.
#[tokio::test]
async fn an_answer_cut_in_its_body_is_cut_for_the_client_and_counted() {
    for fault in [Fault::CutShort(1000), Fault::ResetMidResponse(1000)] {
        let backend = start_backend("A");
        let proxy = FaultProxy::start(backend.running.addr).await.unwrap();
        let (lb, pool) = balancer(&[(proxy.addr(), 1)], StrategyKind::RoundRobin);
        proxy.set(fault);
        let mut s = TcpStream::connect(lb.addr).await.unwrap();
        let request = "GET /big HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n";
        s.write_all(request.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got))
            .await
            .expect("the connection ends");
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 200"), "{fault:?}: {text:.80}");
        let (_, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            body.len() < BIG,
            "{fault:?}: {} bytes of {BIG} arrived and the connection ended",
            body.len()
        );
        let errors = pool.backends()[0].errors();
        assert_eq!(errors, 1, "{fault:?}: held against the backend");
        lb.stop().await.unwrap();
    }
}

/// A throttled backend's answers arrive whole, only later.
#[tokio::test]
async fn a_throttled_backend_answers_whole() {
    let rig = rig(StrategyKind::RoundRobin).await;
    rig.proxy.set(Fault::Throttle(512 * 1024));
    for i in 0..9 {
        let (status, body) = fetch(rig.lb.addr, "/big").await;
        assert_eq!((status, body.len()), (200, BIG), "GET {i}");
    }
    let totals: Vec<u64> = rig.pool.backends().iter().map(|b| b.total()).collect();
    assert_eq!(totals, [3, 3, 3]);
    rig.lb.stop().await.unwrap();
}

/// A backend that takes 2 s to answer gets a small share under least connections and under
/// P2C over peak-EWMA latency: the strategies steer around it without ejecting it.
#[tokio::test]
async fn a_slow_backend_gets_a_smaller_share() {
    for kind in [StrategyKind::LeastConnections, StrategyKind::PowerOfTwo] {
        // The 2 s answers must not time out: this balancer waits the default 30 s.
        let rig = rig_with(kind, HttpProxyConfig::default()).await;
        rig.proxy.set(Fault::Latency(Duration::from_secs(2)));
        let (lb, pool) = (&rig.lb, &rig.pool);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        let workers: Vec<_> = (0..10)
            .map(|_| {
                let addr = lb.addr;
                tokio::spawn(async move {
                    let mut failed = 0;
                    while tokio::time::Instant::now() < deadline {
                        if fetch(addr, "/").await.0 != 200 {
                            failed += 1;
                        }
                    }
                    failed
                })
            })
            .collect();
        for w in workers {
            assert_eq!(w.await.unwrap(), 0, "{kind:?}: every request answered");
        }
        let totals: Vec<u64> = pool.backends().iter().map(|b| b.total()).collect();
        let all: u64 = totals.iter().sum();
        println!("{kind:?}: requests per backend (the second slow) {totals:?}");
        assert!(all > 100, "{kind:?}: {totals:?}");
        assert!(
            totals[1] * 20 < all,
            "{kind:?}: the slow backend got under 5% of {all}: {totals:?}"
        );
        rig.lb.stop().await.unwrap();
    }
}
