//! `/api/openapi.json` is true to the router: every documented operation exists and answers
//! with a status the document lists.

use reqwest::{Method, StatusCode};

use crate::{both_backends, start, Backend, Client};

async fn the_document_matches_the_router(backend: Backend) {
    let app = start(backend).await;
    let c = Client::new(&app);
    let a = c.get("/api/openapi.json").await;
    assert_eq!(a.status, StatusCode::OK);
    let doc = a.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let method: Method = method.to_uppercase().parse().unwrap();
            let answer = c.send(method.clone(), path, &[], None).await;
            let status = answer.status.as_u16().to_string();
            let documented = op["responses"].as_object().unwrap();
            assert!(
                documented.contains_key(&status),
                "{method} {path} answered {status}, documented: {:?}",
                documented.keys().collect::<Vec<_>>()
            );
        }
    }
    assert_eq!(operations, 18);
    // Every JSON route of the router is documented.
    for path in [
        "/add",
        "/process",
        "/api/process",
        "/api/users",
        "/login",
        "/logout",
        "/api/profile",
        "/api/profile/password",
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/openapi.json",
        "/api/admin/jobs",
        "/api/posts",
        "/api/posts/{id}",
        "/api/events",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    app.running.stop().await.unwrap();
}

both_backends!(the_document_matches_the_router);
