//! Registration and the users table.

use reqwest::StatusCode;
use serde_json::json;

use crate::{both_backends, create_admin, start, Backend, Client, PASSWORD};

async fn registration(backend: Backend) {
    let app = start(backend).await;
    let c = Client::new(&app);
    let ann = c.register("ann", PASSWORD).await;
    assert_eq!(ann["username"], "ann");
    assert_eq!(ann["role"], "user");
    assert!(ann["id"].as_i64().unwrap() > 0);
    assert!(ann["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(ann.get("password_hash").is_none() && ann.get("password").is_none());

    let taken = c
        .post_json(
            "/api/users",
            json!({ "username": "ANN", "password": PASSWORD }),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.error(), "username is taken");

    for (name, password, says) in [
        ("bo", PASSWORD, "username must be 3 to 32 characters long"),
        (
            "bob smith",
            PASSWORD,
            "username may contain only letters, digits",
        ),
        (
            "bob",
            "short pass",
            "password must be at least 12 characters long",
        ),
        (
            "bob",
            &"p".repeat(129),
            "password must be at most 128 bytes long",
        ),
    ] {
        let a = c
            .post_json(
                "/api/users",
                json!({ "username": name, "password": password }),
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(a.error().starts_with(says), "{}", a.error());
    }
    let missing = c
        .post_json("/api/users", json!({ "username": "bob" }))
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The sign-up form signs the new user in and goes to the profile page.
    let form = c
        .post_form("/api/users", &[("username", "cat"), ("password", PASSWORD)])
        .await;
    assert_eq!(form.status, StatusCode::SEE_OTHER, "{}", form.text());
    assert_eq!(form.header("location"), Some("/profile"));
    assert!(form.session_cookie().is_some());
    app.running.stop().await.unwrap();
}

async fn users_table_is_for_admins(backend: Backend) {
    let app = start(backend).await;
    let anon = Client::new(&app);
    let anon_list = anon.get("/api/users").await;
    assert_eq!(anon_list.status, StatusCode::UNAUTHORIZED);
    anon_list.error();

    let mut user = Client::new(&app);
    user.register("ann", PASSWORD).await;
    user.login("ann", PASSWORD).await;
    let forbidden = user.get("/api/users").await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(forbidden.error(), "only admins may list users");

    create_admin(&app, "root", PASSWORD).await;
    for i in 0..24 {
        user.register(&format!("user{i:02}"), PASSWORD).await;
    }
    let mut admin = Client::new(&app);
    admin.login("root", PASSWORD).await;
    let mut seen = Vec::new();
    let mut after: Option<i64> = None;
    loop {
        let path = match after {
            Some(id) => format!("/api/users?limit=10&after={id}"),
            None => "/api/users?limit=10".into(),
        };
        let page = admin.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        let page = page.json();
        for u in page["users"].as_array().unwrap() {
            assert!(u.get("password_hash").is_none());
            assert_eq!(u.as_object().unwrap().len(), 4, "{u}");
            seen.push(u["username"].as_str().unwrap().to_string());
        }
        match page["next_after"].as_i64() {
            Some(id) => after = Some(id),
            None => break,
        }
    }
    assert_eq!(seen.len(), 26, "{seen:?}");
    assert_eq!(seen[0], "ann");
    let bad = admin.get("/api/users?limit=0").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let bad = admin.get("/api/users?after=x").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    app.running.stop().await.unwrap();
}

both_backends!(registration, users_table_is_for_admins);
