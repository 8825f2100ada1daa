//! `/add` and `/process`: the stateless API, every success and every error.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{both_backends, start, Backend, Client};

async fn add(backend: Backend) {
    let app = start(backend).await;
    let c = Client::new(&app);
    let a = c.get("/add?a=5&b=3").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.text(), "8");
    assert!(a.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(
        c.get("/add?a=-9223372036854775808&b=0").await.text(),
        "-9223372036854775808"
    );

    // Encoded or not, among others: the same pairs.
    for (query, sum) in [
        ("/add?a=%2D5&b=+3", "-2"),
        ("/add?c=x&b=3&&a=5&c=y", "8"),
        ("/add?a=%35&b=3", "8"),
    ] {
        let a = c.get(query).await;
        assert_eq!(
            (a.status, a.text()),
            (StatusCode::OK, sum.into()),
            "{query}"
        );
    }

    for (query, says) in [
        ("/add?a=5", "query parameter 'b' is missing"),
        // Given twice, plain or encoded, neither wins.
        (
            "/add?a=1&a=2&b=3",
            "query parameter 'a' is given more than once",
        ),
        (
            "/add?a=1&b=3&b=3",
            "query parameter 'b' is given more than once",
        ),
        (
            "/add?a=1&%61=2&b=3",
            "query parameter 'a' is given more than once",
        ),
        (
            "/add?b=+3&a=1&b=4",
            "query parameter 'b' is given more than once",
        ),
        ("/add", "query parameter 'a' is missing"),
        (
            "/add?a=five&b=3",
            "query parameter 'a' is not a 64-bit integer: 'five'",
        ),
        (
            "/add?a=1.5&b=3",
            "query parameter 'a' is not a 64-bit integer: '1.5'",
        ),
        (
            "/add?a=1&b=9223372036854775808",
            "query parameter 'b' is not a 64-bit integer",
        ),
        (
            "/add?a=9223372036854775807&b=1",
            "a + b overflows a 64-bit integer",
        ),
        (
            "/add?a=-9223372036854775808&b=-1",
            "a + b overflows a 64-bit integer",
        ),
    ] {
        let a = c.get(query).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(a.error().starts_with(says), "{query}: {}", a.error());
        // GET is answered without the router, HEAD through it: the same refusal.
        let head = c.send(Method::HEAD, query, &[], None).await;
        assert_eq!(head.status, StatusCode::BAD_REQUEST, "HEAD {query}");
    }
    app.running.stop().await.unwrap();
}

async fn process(backend: Backend) {
    let app = start(backend).await;
    let c = Client::new(&app);
    for path in ["/process", "/api/process"] {
        let a = c.post_json(path, json!({ "input": [1, 2, 3] })).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(a.json(), json!({ "result": 6 }));
        assert_eq!(
            c.post_json(path, json!({ "input": [1, 2.5] })).await.json(),
            json!({ "result": 3.5 })
        );
        assert_eq!(
            c.post_json(path, json!({ "input": [] })).await.json(),
            json!({ "result": 0 })
        );

        let overflow = c
            .post_json(path, json!({ "input": [i64::MAX, i64::MAX, i64::MAX] }))
            .await;
        assert_eq!(overflow.status, StatusCode::BAD_REQUEST);
        assert!(overflow.error().contains("overflows"));
        // The result must be a 64-bit signed integer, not merely fit 64 bits.
        let just_over = c.post_json(path, json!({ "input": [i64::MAX, 1] })).await;
        assert_eq!(
            just_over.status,
            StatusCode::BAD_REQUEST,
            "{}",
            just_over.text()
        );
        assert_eq!(just_over.error(), "the sum overflows a 64-bit integer");
        let back_in = c
            .post_json(
                path,
                json!({ "input": [9_223_372_036_854_775_808_u64, -1] }),
            )
            .await;
        assert_eq!(back_in.json(), json!({ "result": i64::MAX }));

        let not_json = c
            .send(
                Method::POST,
                path,
                &[],
                Some(("application/json", b"{input: [1,".to_vec())),
            )
            .await;
        assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
        assert!(
            not_json.error().starts_with("body is not valid JSON"),
            "{}",
            not_json.error()
        );

        for (content_type, body) in [
            ("application/json; charset=utf-8", r#"{"input": [1, 2]}"#),
            ("Application/JSON", r#"{"input": [1, 2]}"#),
            ("application/vnd.example+json", r#" {"input": [1, 2]} "#),
        ] {
            let a = c
                .send(
                    Method::POST,
                    path,
                    &[],
                    Some((content_type, body.as_bytes().to_vec())),
                )
                .await;
            assert_eq!(a.status, StatusCode::OK, "{content_type}: {}", a.text());
            assert_eq!(a.text(), r#"{"result":3}"#);
        }
        let trailing = c
            .send(
                Method::POST,
                path,
                &[],
                Some(("application/json", br#"{"input": [1]} x"#.to_vec())),
            )
            .await;
        assert_eq!(trailing.status, StatusCode::BAD_REQUEST);
        assert!(trailing.error().starts_with("body is not valid JSON"));

        let wrong_type = c
            .send(
                Method::POST,
                path,
                &[],
                Some(("text/plain", br#"{"input": [1]}"#.to_vec())),
            )
            .await;
        assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(wrong_type.error().contains("application/json"));

        for bad in [
            json!({}),
            json!({ "input": "1,2" }),
            json!({ "input": [1, "2"] }),
            json!([1, 2]),
        ] {
            let a = c.post_json(path, bad.clone()).await;
            assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            a.error();
        }

        let huge = format!("{{\"input\": [{}1]}}", "1, ".repeat(600_000));
        let a = c
            .send(
                Method::POST,
                path,
                &[],
                Some(("application/json", huge.into_bytes())),
            )
            .await;
        assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
        // Its length was declared: refused before it was read, with the figures.
        assert_eq!(
            a.error(),
            "request body of 1800014 bytes is larger than the limit of 1048576 bytes"
        );
    }
    app.running.stop().await.unwrap();
}

both_backends!(add, process);
