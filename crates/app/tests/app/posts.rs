//! Posts: who may post, read and delete, what a post may be, paging, and the rate limit.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{both_backends, create_admin, start, Backend, Client, TestApp, PASSWORD};

/// A client signed in as `name` (registered first).
pub async fn signed_in(app: &TestApp, name: &str) -> Client {
    let mut c = Client::new(app);
    c.register(name, PASSWORD).await;
    c.login(name, PASSWORD).await;
    c
}

/// Posts `text` as `c`; asserts 201 and returns the post.
pub async fn post(c: &Client, text: &str) -> serde_json::Value {
    let a = c.post_json("/api/posts", json!({ "text": text })).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    a.json()
}

async fn only_signed_in_users(backend: Backend) {
    let app = start(backend).await;
    let anon = Client::new(&app);
    for (method, path) in [
        (Method::GET, "/api/posts"),
        (Method::POST, "/api/posts"),
        (Method::DELETE, "/api/posts/1"),
    ] {
        let a = anon
            .send(
                method.clone(),
                path,
                &[],
                Some(("application/json", br#"{"text":"hi"}"#.to_vec())),
            )
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(a.error(), "not signed in");
        assert_eq!(a.header("cache-control"), Some("no-store"));
    }
    // A browser's post from another site is refused, as every form is.
    let ann = signed_in(&app, "ann").await;
    let forged = ann
        .send(
            Method::POST,
            "/api/posts",
            &[
                ("origin", "http://evil.example"),
                ("sec-fetch-site", "cross-site"),
            ],
            Some(("application/json", br#"{"text":"hi"}"#.to_vec())),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let deleted = ann
        .send(
            Method::DELETE,
            "/api/posts/1",
            &[("sec-fetch-site", "cross-site")],
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::FORBIDDEN);
    let listed = ann.get("/api/posts").await.json();
    assert_eq!(listed["posts"], json!([]), "nothing was posted");
    app.running.stop().await.unwrap();
}

async fn what_a_post_may_be(backend: Backend) {
    let app = start(backend).await;
    let ann = signed_in(&app, "ann").await;
    let made = post(&ann, "héllo, wörld ✓").await;
    assert_eq!(made["text"], "héllo, wörld ✓");
    assert_eq!(made["author"]["username"], "ann");
    assert!(made["id"].as_i64().unwrap() > 0);
    assert!(made["created_at"].as_str().unwrap().ends_with('Z'));
    post(&ann, &"é".repeat(500)).await;

    let refused = |body: Vec<u8>, content_type: &'static str| {
        let ann = ann.clone();
        async move {
            ann.send(Method::POST, "/api/posts", &[], Some((content_type, body)))
                .await
        }
    };
    for (body, says) in [
        (json!({ "text": "" }).to_string(), "text must not be empty"),
        (
            json!({ "text": "  \n " }).to_string(),
            "text must not be empty",
        ),
        (
            json!({ "text": "é".repeat(501) }).to_string(),
            "text must be at most 500 characters long",
        ),
        (json!({ "text": 5 }).to_string(), "invalid type"),
        (json!({}).to_string(), "missing field `text`"),
    ] {
        let a = refused(body.into_bytes(), "application/json").await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(a.error().contains(says), "{}", a.error());
    }
    let not_utf8 = refused(b"{\"text\":\"caf\xe9\"}".to_vec(), "application/json").await;
    assert_eq!(not_utf8.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(not_utf8.error(), "the body is not UTF-8");
    let malformed = refused(b"{\"text\":".to_vec(), "application/json").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    let form = refused(b"text=hi".to_vec(), "application/x-www-form-urlencoded").await;
    assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let listed = ann.get("/api/posts").await.json();
    assert_eq!(listed["posts"].as_array().unwrap().len(), 2);
    app.running.stop().await.unwrap();
}

async fn paging_newest_first(backend: Backend) {
    let app = start(backend).await;
    let ann = signed_in(&app, "ann").await;
    let bob = signed_in(&app, "bob").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let author = if i % 2 == 0 { &ann } else { &bob };
        ids.push(
            post(author, &format!("post {i}")).await["id"]
                .as_i64()
                .unwrap(),
        );
        // Seven posts from two users fit the limit; the clock moves anyway.
        app.clock.advance(Duration::from_secs(1));
    }
    let first = bob.get("/api/posts?limit=3").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header("cache-control"), Some("no-store"));
    let first = first.json();
    let page_ids = |page: &serde_json::Value| {
        page["posts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(page_ids(&first), [ids[6], ids[5], ids[4]]);
    assert_eq!(first["posts"][0]["text"], "post 6");
    assert_eq!(first["posts"][1]["author"]["username"], "bob");
    assert!(first["last_event_id"].as_i64().unwrap() >= 7);
    let next = first["next_before"].as_i64().unwrap();
    let second = ann
        .get(&format!("/api/posts?before={next}&limit=3"))
        .await
        .json();
    assert_eq!(page_ids(&second), [ids[3], ids[2], ids[1]]);
    let next = second["next_before"].as_i64().unwrap();
    let last = ann
        .get(&format!("/api/posts?before={next}&limit=3"))
        .await
        .json();
    assert_eq!(page_ids(&last), [ids[0]]);
    assert_eq!(last["next_before"], json!(null));
    assert_eq!(
        page_ids(&ann.get("/api/posts").await.json()).len(),
        7,
        "20 by default"
    );

    for query in ["limit=0", "limit=101", "limit=x", "before=x", "limit=-1"] {
        let a = ann.get(&format!("/api/posts?{query}")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}");
        a.error();
    }
    assert_eq!(ann.get("/api/posts?limit=100").await.status, StatusCode::OK);
    app.running.stop().await.unwrap();
}

async fn the_author_or_an_admin_deletes(backend: Backend) {
    let app = start(backend).await;
    let ann = signed_in(&app, "ann").await;
    let bob = signed_in(&app, "bob").await;
    create_admin(&app, "root", PASSWORD).await;
    let mut root = Client::new(&app);
    root.login("root", PASSWORD).await;

    let first = post(&ann, "mine").await["id"].as_i64().unwrap();
    let second = post(&ann, "also mine").await["id"].as_i64().unwrap();
    let path = |id: i64| format!("/api/posts/{id}");

    let a = bob.send(Method::DELETE, &path(first), &[], None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.error(), "only its author or an admin may delete a post");
    let a = ann.send(Method::DELETE, &path(first), &[], None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    assert!(a.body.is_empty());
    let a = ann.send(Method::DELETE, &path(first), &[], None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    a.error();
    let a = root.send(Method::DELETE, &path(second), &[], None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    for missing in ["/api/posts/999999", "/api/posts/abc", "/api/posts/-1"] {
        let a = ann.send(Method::DELETE, missing, &[], None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{missing}");
        a.error();
    }
    // Not a method the path has.
    let a = ann.get(&path(second)).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(ann.get("/api/posts").await.json()["posts"], json!([]));
    app.running.stop().await.unwrap();
}

async fn ten_posts_a_minute(backend: Backend) {
    let app = start(backend).await;
    let ann = signed_in(&app, "ann").await;
    let bob = signed_in(&app, "bob").await;
    for i in 0..10 {
        post(&ann, &format!("{i}")).await;
        app.clock.advance(Duration::from_secs(1));
    }
    // The first post (10 s ago) leaves the window in 50 s.
    let a = ann
        .post_json("/api/posts", json!({ "text": "one more" }))
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.header("retry-after"), Some("50"));
    assert!(a.error().starts_with("at most 10 posts per 60 seconds"));
    // Someone else may post.
    post(&bob, "me too").await;
    // Deleting a post does not make room.
    let listed = ann.get("/api/posts?limit=100").await.json();
    let id = listed["posts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["author"]["username"] == "ann")
        .and_then(|p| p["id"].as_i64())
        .expect("a post of ann's");
    let a = ann
        .send(Method::DELETE, &format!("/api/posts/{id}"), &[], None)
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = ann
        .post_json("/api/posts", json!({ "text": "one more" }))
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    // 50 s on, the first post has left the window: one more, and then no more.
    app.clock.advance(Duration::from_secs(50));
    post(&ann, "one more").await;
    let a = ann
        .post_json("/api/posts", json!({ "text": "and another" }))
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.header("retry-after"), Some("1"));
    app.running.stop().await.unwrap();
}

async fn the_feed_page(backend: Backend) {
    let app = start(backend).await;
    let anon = Client::new(&app);
    let a = anon.get("/feed").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.header("location"), Some("/?signin=required#signin"));
    let ann = signed_in(&app, "ann").await;
    let a = ann.get("/feed").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(a.header("cache-control"), Some("no-store"));
    assert!(a
        .header("content-security-policy")
        .unwrap()
        .contains("script-src 'self'"));
    let page = a.text();
    assert!(page.contains(r#"<script src="/feed.js" defer></script>"#));
    assert!(
        !page.contains("<script>"),
        "no inline script: the CSP forbids it"
    );
    for (path, content_type, says) in [
        (
            "/feed.js",
            "text/javascript; charset=utf-8",
            "new EventSource(",
        ),
        ("/feed.css", "text/css; charset=utf-8", ".posts"),
    ] {
        let a = anon.get(path).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert_eq!(a.header("content-type"), Some(content_type));
        assert!(a.text().contains(says), "{path}");
    }
    app.running.stop().await.unwrap();
}

both_backends!(
    the_feed_page,
    only_signed_in_users,
    what_a_post_may_be,
    paging_newest_first,
    the_author_or_an_admin_deletes,
    ten_posts_a_minute,
);
