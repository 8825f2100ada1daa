//! Sign in, the profile, sign out; session lifetimes under a controlled clock; revocation.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::{both_backends, start, start_on, test_config, Backend, Client, PASSWORD};

async fn register_login_profile_logout(backend: Backend) {
    let app = start(backend).await;
    let mut c = Client::new(&app);
    c.register("ann", PASSWORD).await;

    let a = c
        .post_json("/login", json!({ "username": "ann", "password": PASSWORD }))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let set_cookie = a.header("set-cookie").unwrap().to_string();
    assert!(set_cookie.contains("; HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("; SameSite=Lax"), "{set_cookie}");
    assert!(set_cookie.contains("; Path=/"), "{set_cookie}");
    assert!(
        !set_cookie.contains("Secure"),
        "no TLS, no Secure: {set_cookie}"
    );
    let body = a.json();
    assert_eq!(body["user"]["username"], "ann");
    let token = body["token"].as_str().unwrap().to_string();
    assert!(token.len() >= 32, "at least 128 bits");
    c.cookie = a.session_cookie();
    assert_eq!(c.cookie.as_deref(), Some(token.as_str()));

    let profile = c.get("/api/profile").await;
    assert_eq!(profile.status, StatusCode::OK);
    assert_eq!(profile.json()["user"]["username"], "ann");
    assert_eq!(profile.json()["served_by"], "test-server");
    let page = c.get("/profile").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("Signed in as ann"));
    assert!(page.text().contains("test-server"));

    // The same token works for an API client as a bearer token.
    let api = Client {
        cookie: None,
        bearer: Some(token.clone()),
        ..c.clone()
    };
    assert_eq!(api.get("/api/profile").await.status, StatusCode::OK);

    let out = c.post_json("/logout", json!({})).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let cleared = out.header("set-cookie").unwrap();
    assert!(
        cleared.starts_with("sb_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );

    // Deleted on the server: presenting the old token again does not work.
    let after = c.get("/api/profile").await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    after.error();
    assert_eq!(
        api.get("/api/profile").await.status,
        StatusCode::UNAUTHORIZED
    );
    let page = c.get("/profile").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.header("location").unwrap().starts_with("/?signin"));
    app.running.stop().await.unwrap();
}

async fn failed_logins_look_alike(backend: Backend) {
    let app = start(backend).await;
    let c = Client::new(&app);
    c.register("ann", PASSWORD).await;
    let wrong = c
        .post_json(
            "/login",
            json!({ "username": "ann", "password": "not the password" }),
        )
        .await;
    let unknown = c
        .post_json(
            "/login",
            json!({ "username": "nobody", "password": PASSWORD }),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.error(), unknown.error());
    assert_eq!(wrong.error(), "invalid username or password");
    assert!(wrong.session_cookie().is_none());

    // The sign-in form: a redirect on success, a page on failure.
    let ok = c
        .post_form("/login", &[("username", "ann"), ("password", PASSWORD)])
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.header("location"), Some("/profile"));
    let bad = c
        .post_form(
            "/login",
            &[("username", "ann"), ("password", "nope nope nope")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(bad.header("content-type").unwrap().starts_with("text/html"));
    app.running.stop().await.unwrap();
}

async fn every_login_gets_a_new_token(backend: Backend) {
    let app = start(backend).await;
    let mut a = Client::new(&app);
    a.register("ann", PASSWORD).await;
    a.login("ann", PASSWORD).await;
    let mut b = a.clone();
    b.login("ann", PASSWORD).await;
    assert_ne!(a.cookie, b.cookie);
    assert_eq!(a.get("/api/profile").await.status, StatusCode::OK);
    assert_eq!(b.get("/api/profile").await.status, StatusCode::OK);
    app.running.stop().await.unwrap();
}

async fn idle_sessions_expire(backend: Backend) {
    let app = start(backend).await;
    let mut c = Client::new(&app);
    c.register("ann", PASSWORD).await;
    c.login("ann", PASSWORD).await;
    // Used every 29 minutes, a session lives on.
    for _ in 0..3 {
        app.clock.advance(Duration::from_secs(29 * 60));
        assert_eq!(c.get("/api/profile").await.status, StatusCode::OK);
    }
    // Unused for 31 minutes, it is over.
    app.clock.advance(Duration::from_secs(31 * 60));
    let a = c.get("/api/profile").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.error(), "session expired or unknown; sign in again");
    app.running.stop().await.unwrap();
}

async fn sessions_end_after_twelve_hours_however_active(backend: Backend) {
    let app = start(backend).await;
    let mut c = Client::new(&app);
    c.register("ann", PASSWORD).await;
    c.login("ann", PASSWORD).await;
    for _ in 0..(12 * 3 - 1) {
        app.clock.advance(Duration::from_secs(20 * 60));
        assert_eq!(c.get("/api/profile").await.status, StatusCode::OK);
    }
    app.clock.advance(Duration::from_secs(20 * 60));
    assert_eq!(c.get("/api/profile").await.status, StatusCode::UNAUTHORIZED);
    app.running.stop().await.unwrap();
}

async fn a_password_change_revokes_every_session(backend: Backend) {
    let app = start(backend).await;
    let mut here = Client::new(&app);
    here.register("ann", PASSWORD).await;
    here.login("ann", PASSWORD).await;
    let mut elsewhere = Client::new(&app);
    elsewhere.login("ann", PASSWORD).await;

    let wrong = here
        .post_json("/api/profile/password", json!({ "current_password": "not it at all", "new_password": "a brand new passphrase" }))
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let short = here
        .post_json(
            "/api/profile/password",
            json!({ "current_password": PASSWORD, "new_password": "short" }),
        )
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);

    let changed = here
        .post_json(
            "/api/profile/password",
            json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text());
    let old_cookie = here
        .cookie
        .replace(changed.session_cookie().expect("a fresh session"));
    assert_eq!(here.get("/api/profile").await.status, StatusCode::OK);
    assert_eq!(
        elsewhere.get("/api/profile").await.status,
        StatusCode::UNAUTHORIZED
    );
    let stale = Client {
        cookie: old_cookie,
        ..here.clone()
    };
    assert_eq!(
        stale.get("/api/profile").await.status,
        StatusCode::UNAUTHORIZED
    );

    let old = Client::new(&app)
        .post_json("/login", json!({ "username": "ann", "password": PASSWORD }))
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    Client::new(&app)
        .login("ann", "a brand new passphrase")
        .await;
    app.running.stop().await.unwrap();
}

/// Two servers on one database accept each other's sessions.
async fn servers_sharing_a_database_share_sessions(backend: Backend) {
    let first = start(backend).await;
    let second = start_on(first.app.store().clone(), first.dir.clone(), test_config()).await;
    let mut on_first = Client::new(&first);
    on_first.register("ann", PASSWORD).await;
    on_first.login("ann", PASSWORD).await;
    let on_second = Client {
        cookie: on_first.cookie.clone(),
        ..Client::new(&second)
    };
    let a = on_second.get("/api/profile").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.json()["user"]["username"], "ann");
    first.running.stop().await.unwrap();
    second.running.stop().await.unwrap();
}

both_backends!(
    register_login_profile_logout,
    failed_logins_look_alike,
    every_login_gets_a_new_token,
    idle_sessions_expire,
    sessions_end_after_twelve_hours_however_active,
    a_password_change_revokes_every_session,
    servers_sharing_a_database_share_sessions,
);

/// Behind TLS the cookie takes the `__Host-` prefix and `Secure`, and responses carry HSTS.
async fn tls_hardens_the_cookie_and_sends_hsts(backend: Backend) {
    let app = crate::start_with(
        backend,
        switchboard_app::AppConfig {
            tls: true,
            ..test_config()
        },
    )
    .await;
    let c = Client::new(&app);
    c.register("ann", PASSWORD).await;
    let a = c
        .post_json("/login", json!({ "username": "ann", "password": PASSWORD }))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let set_cookie = a.header("set-cookie").unwrap();
    assert!(set_cookie.starts_with("__Host-sb_session="), "{set_cookie}");
    assert!(set_cookie.ends_with("; Secure"), "{set_cookie}");
    assert!(a
        .header("strict-transport-security")
        .unwrap()
        .starts_with("max-age="));
    let token = a.json()["token"].as_str().unwrap().to_string();
    let cookie = format!("__Host-sb_session={token}");
    let profile = c
        .send(
            reqwest::Method::GET,
            "/api/profile",
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!(profile.status, StatusCode::OK);
    // The plain name is not accepted under TLS.
    let plain = format!("sb_session={token}");
    let profile = c
        .send(
            reqwest::Method::GET,
            "/api/profile",
            &[("cookie", &plain)],
            None,
        )
        .await;
    assert_eq!(profile.status, StatusCode::UNAUTHORIZED);
    app.running.stop().await.unwrap();
}

both_backends!(tls_hardens_the_cookie_and_sends_hsts);

/// Another server trusts a session it verified for at most a second (its cache); a sign-out
/// elsewhere reaches it within that second.
async fn a_sign_out_reaches_other_servers_within_a_second(backend: Backend) {
    let first = start(backend).await;
    let second = start_on(first.app.store().clone(), first.dir.clone(), test_config()).await;
    let mut on_first = Client::new(&first);
    on_first.register("ann", PASSWORD).await;
    on_first.login("ann", PASSWORD).await;
    let on_second = Client {
        cookie: on_first.cookie.clone(),
        ..Client::new(&second)
    };
    assert_eq!(on_second.get("/api/profile").await.status, StatusCode::OK);
    assert_eq!(
        on_first.post_json("/logout", json!({})).await.status,
        StatusCode::NO_CONTENT
    );
    second.clock.advance(Duration::from_secs(1));
    assert_eq!(
        on_second.get("/api/profile").await.status,
        StatusCode::UNAUTHORIZED
    );
    first.running.stop().await.unwrap();
    second.running.stop().await.unwrap();
}

both_backends!(a_sign_out_reaches_other_servers_within_a_second);
