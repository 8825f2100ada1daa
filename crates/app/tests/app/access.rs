//! Access control, CSRF, login throttling.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use switchboard_app::{AppConfig, ThrottlePolicy};

use crate::{both_backends, start, start_with, test_config, Backend, Client, PASSWORD};

async fn users_see_only_themselves(backend: Backend) {
    let app = start(backend).await;
    let mut ann = Client::new(&app);
    ann.register("ann", PASSWORD).await;
    ann.login("ann", PASSWORD).await;
    let mut bob = Client::new(&app);
    bob.register("bob", "bobs own long password").await;
    bob.login("bob", "bobs own long password").await;

    assert_eq!(
        ann.get("/api/profile").await.json()["user"]["username"],
        "ann"
    );
    assert_eq!(
        bob.get("/api/profile").await.json()["user"]["username"],
        "bob"
    );
    // A password change only ever touches the signed-in user: ann cannot change bob's.
    let a = ann
        .post_json("/api/profile/password", json!({ "current_password": "bobs own long password", "new_password": "ann takes over bob" }))
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bob.get("/api/profile").await.status, StatusCode::OK);
    assert_eq!(ann.get("/api/users").await.status, StatusCode::FORBIDDEN);
    // A made-up token is nobody.
    let forger = Client {
        cookie: Some("00".repeat(32)),
        ..Client::new(&app)
    };
    assert_eq!(
        forger.get("/api/profile").await.status,
        StatusCode::UNAUTHORIZED
    );
    app.running.stop().await.unwrap();
}

async fn cross_site_state_changes_are_refused(backend: Backend) {
    let app = start(backend).await;
    let mut ann = Client::new(&app);
    ann.register("ann", PASSWORD).await;
    ann.login("ann", PASSWORD).await;

    let forged = ann
        .send(
            Method::POST,
            "/logout",
            &[("sec-fetch-site", "cross-site")],
            None,
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(forged.error(), "cross-site request refused");
    let origin = format!("http://{}", app.addr);
    let forged = ann
        .send(
            Method::POST,
            "/logout",
            &[("origin", "https://evil.example")],
            None,
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(
        ann.get("/api/profile").await.status,
        StatusCode::OK,
        "still signed in"
    );

    // The login form is covered too (login CSRF).
    let login = Client::new(&app)
        .send(
            Method::POST,
            "/login",
            &[("sec-fetch-site", "cross-site")],
            Some((
                "application/x-www-form-urlencoded",
                format!("username=ann&password={PASSWORD}").into_bytes(),
            )),
        )
        .await;
    assert_eq!(login.status, StatusCode::FORBIDDEN);

    // Same origin is fine.
    let ok = ann
        .send(Method::POST, "/logout", &[("origin", &origin)], None)
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    app.running.stop().await.unwrap();
}

fn strict() -> AppConfig {
    AppConfig {
        throttle: ThrottlePolicy {
            window: Duration::from_secs(15 * 60),
            slow_after: 1000,
            per_account: 3,
            per_address: 5,
            registrations_per_address: 60,
        },
        ..test_config()
    }
}

async fn failed_logins_are_throttled_but_cannot_lock_out(backend: Backend) {
    let app = start_with(backend, strict()).await;
    let attacker = Client::new(&app);
    attacker.register("ann", PASSWORD).await;
    let wrong = json!({ "username": "ann", "password": "guess guess guess" });
    for _ in 0..3 {
        assert_eq!(
            attacker.post_json("/login", wrong.clone()).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // From the attacker's address, even the right password now gets 429.
    let right = json!({ "username": "ann", "password": PASSWORD });
    let limited = attacker.post_json("/login", right.clone()).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    limited.error();

    // The real user, elsewhere, is not locked out.
    let mut ann = Client::from_address(&app, "127.0.0.2".parse().unwrap());
    ann.login("ann", PASSWORD).await;

    // One address failing across accounts is limited too.
    let sprayer = Client::from_address(&app, "127.0.0.3".parse().unwrap());
    for i in 0..5 {
        let a = sprayer
            .post_json(
                "/login",
                json!({ "username": format!("user{i}"), "password": "spray spray spray" }),
            )
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let a = sprayer
        .post_json(
            "/login",
            json!({ "username": "user9", "password": "spray spray spray" }),
        )
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);

    // Failures leave the window: no lock is for good.
    app.clock.advance(Duration::from_secs(15 * 60 + 1));
    assert_eq!(
        attacker.post_json("/login", right).await.status,
        StatusCode::OK
    );
    app.running.stop().await.unwrap();
}

async fn repeated_failures_slow_down(backend: Backend) {
    let app = start_with(
        backend,
        AppConfig {
            throttle: ThrottlePolicy {
                slow_after: 1,
                ..strict().throttle
            },
            ..test_config()
        },
    )
    .await;
    let c = Client::new(&app);
    let wrong = json!({ "username": "nobody", "password": "guess guess guess" });
    c.post_json("/login", wrong.clone()).await;
    c.post_json("/login", wrong.clone()).await;
    let started = tokio::time::Instant::now();
    c.post_json("/login", wrong).await;
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    app.running.stop().await.unwrap();
}

both_backends!(
    users_see_only_themselves,
    cross_site_state_changes_are_refused,
    failed_logins_are_throttled_but_cannot_lock_out,
    repeated_failures_slow_down,
);

/// Concurrent guesses cannot slip past the limit while earlier ones are still being hashed.
async fn concurrent_guesses_are_counted_while_under_way(backend: Backend) {
    let app = start_with(backend, strict()).await;
    let c = Client::new(&app);
    c.register("ann", PASSWORD).await;
    let guesses: Vec<_> = (0..12)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                c.post_json(
                    "/login",
                    json!({ "username": "ann", "password": format!("guess number {i:02}") }),
                )
                .await
                .status
            })
        })
        .collect();
    let mut unauthorized = 0;
    for guess in guesses {
        match guess.await.unwrap() {
            StatusCode::UNAUTHORIZED => unauthorized += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        unauthorized <= 3,
        "{unauthorized} guesses were checked; the limit is 3"
    );
    app.running.stop().await.unwrap();
}

/// A name no one can have is refused at once, and nothing of it is stored or logged.
async fn impossible_names_fail_without_a_trace(backend: Backend) {
    let app = start_with(backend, strict()).await;
    let c = Client::new(&app);
    for name in [
        "x\nINFO signed in user=admin",
        &"n".repeat(100_000),
        "ann\u{0}",
    ] {
        let a = c
            .post_json("/login", json!({ "username": name, "password": PASSWORD }))
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(a.error(), "invalid username or password");
    }
    let store = app.app.store();
    let (failures, _) = store
        .login_failures("ip:127.0.0.1", app.clock.now(), Duration::from_secs(900))
        .await
        .unwrap();
    assert_eq!(failures, 0);
    app.running.stop().await.unwrap();
}

/// Guessing the current password through a stolen session is throttled like signing in.
async fn password_change_guesses_are_throttled(backend: Backend) {
    let app = start_with(backend, strict()).await;
    let mut thief = Client::new(&app);
    thief.register("ann", PASSWORD).await;
    thief.login("ann", PASSWORD).await;
    for i in 0..3 {
        let a = thief
            .post_json("/api/profile/password", json!({ "current_password": format!("guess {i} guess guess"), "new_password": "the thief's new password" }))
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let a = thief
        .post_json(
            "/api/profile/password",
            json!({ "current_password": PASSWORD, "new_password": "the thief's new password" }),
        )
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(a.header("retry-after").is_some());
    app.running.stop().await.unwrap();
}

both_backends!(
    concurrent_guesses_are_counted_while_under_way,
    impossible_names_fail_without_a_trace,
    password_change_guesses_are_throttled,
);

/// One address cannot fill the users table: past the limit, sign-ups get 429; others still can.
async fn sign_ups_are_limited_per_address(backend: Backend) {
    let app = start_with(
        backend,
        AppConfig {
            throttle: ThrottlePolicy {
                registrations_per_address: 3,
                ..strict().throttle
            },
            ..test_config()
        },
    )
    .await;
    let flooder = Client::new(&app);
    for i in 0..3 {
        flooder.register(&format!("bot{i}"), PASSWORD).await;
    }
    let a = flooder
        .post_json(
            "/api/users",
            json!({ "username": "bot3", "password": PASSWORD }),
        )
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(a.header("retry-after").is_some());
    Client::from_address(&app, "127.0.0.4".parse().unwrap())
        .register("human", PASSWORD)
        .await;
    app.running.stop().await.unwrap();
}

both_backends!(sign_ups_are_limited_per_address);

/// Behind a trusted proxy (the balancer), the limits per address count the client its
/// `X-Real-IP` names: one attacker behind it does not lock everyone else out. From anyone
/// else the field is ignored, so a client cannot pick a fresh address for each guess.
async fn behind_a_trusted_proxy_the_limits_count_the_client_it_names(backend: Backend) {
    let app = start_with(
        backend,
        AppConfig {
            trusted_proxies: vec!["127.0.0.5".parse().unwrap()],
            ..strict()
        },
    )
    .await;
    Client::new(&app).register("ann", PASSWORD).await;
    let proxy = Client::from_address(&app, "127.0.0.5".parse().unwrap());
    let login = |c: &Client, client_ip: &str, password: &str| {
        let c = c.clone();
        let headers = [("x-real-ip", client_ip.to_string())];
        let body = json!({ "username": "ann", "password": password }).to_string();
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            c.send(
                Method::POST,
                "/login",
                &headers,
                Some(("application/json", body.into_bytes())),
            )
            .await
            .status
        }
    };
    for _ in 0..3 {
        let status = login(&proxy, "192.0.2.1", "guess guess guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login(&proxy, "192.0.2.1", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the attacker behind the proxy is limited"
    );
    assert_eq!(
        login(&proxy, "192.0.2.2", PASSWORD).await,
        StatusCode::OK,
        "ann, behind the same proxy, is not"
    );

    // Not trusted: a fresh X-Real-IP for every guess changes nothing.
    let direct = Client::from_address(&app, "127.0.0.6".parse().unwrap());
    for i in 0..3 {
        let status = login(&direct, &format!("198.51.100.{i}"), "guess guess guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login(&direct, "198.51.100.9", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.running.stop().await.unwrap();
}

both_backends!(behind_a_trusted_proxy_the_limits_count_the_client_it_names);
