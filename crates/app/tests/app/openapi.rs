//! `/api/openapi.json` is true to the server: its structure says what every route's extractors
//! and the layer every request passes imply, and requests of each kind those refuse, aimed at
//! every documented operation, get a status, a content type and (for errors) a body the
//! document lists. `bench/contract/schemathesis.sh` checks the same from outside, with
//! generated requests; this is the cheap part of it that runs with the tests.

use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

use crate::{both_backends, create_admin, start, start_with, test_config, Answer, Backend};
use crate::{Client, TestApp, PASSWORD};

/// The body limit of the probes' server: small, so a body over it is cheap to send.
const LIMIT: usize = 4096;

/// Every operation: path, method (lower case, as the document has it), operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut ops = Vec::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            ops.push((path.clone(), method.clone(), op.clone()));
        }
    }
    ops
}

fn responses(op: &Value) -> &Map<String, Value> {
    op["responses"].as_object().expect("responses")
}

/// What `$ref` names, from the document's components.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(name) => {
            let name = name
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("a $ref outside the components: {name}"));
            let target = &doc["components"]["schemas"][name];
            assert!(target.is_object(), "$ref to a missing schema {name}");
            target
        }
        None => schema,
    }
}

fn is_error_schema(schema: &Value) -> bool {
    schema["$ref"] == "#/components/schemas/Error"
}

/// Answers that carry no body, and so no content type.
fn bodiless(status: &str) -> bool {
    matches!(status, "204" | "303" | "304")
}

async fn document(app: &TestApp) -> Value {
    let a = Client::new(app).get("/api/openapi.json").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("content-type"), Some("application/json"));
    a.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_lists_what_its_extractors_and_layers_answer() {
    let app = start(Backend::Sqlite).await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], json!(["error"]));
    assert_eq!(error["properties"]["error"]["type"], "string");
    for (path, method, op) in operations(&doc) {
        let at = format!("{} {path}", method.to_uppercase());
        let listed = responses(&op);
        let lists = |status: &str, why: &str| {
            assert!(
                listed.contains_key(status),
                "{at} does not list {status} ({why})"
            );
        };
        for (status, response) in listed {
            assert!(
                response["description"].is_string(),
                "{at} {status}: no description"
            );
            let content = response["content"].as_object();
            if bodiless(status) {
                assert!(content.is_none(), "{at} {status} has no body, yet content");
                continue;
            }
            let content = content.unwrap_or_else(|| panic!("{at} {status}: no content type"));
            assert!(!content.is_empty(), "{at} {status}: no content type");
            for (media, entry) in content {
                let schema = &entry["schema"];
                assert!(schema.is_object(), "{at} {status} {media}: no schema");
                resolve(&doc, schema);
            }
            if status.starts_with('4') || status.starts_with('5') {
                let json = &content
                    .get("application/json")
                    .unwrap_or_else(|| panic!("{at} {status}: an error, but not as JSON"))
                    ["schema"];
                assert!(
                    is_error_schema(json),
                    "{at} {status}: an error not of the Error schema"
                );
            }
        }
        if let Some(body) = op.get("requestBody") {
            // extract.rs: unreadable or not JSON 400, too slow 408, over the limit 413, a
            // content type the route does not read 415, the wrong shape 422.
            lists("400", "a body that is not JSON or cannot be read");
            lists("408", "a body that does not arrive in time");
            lists("413", "a body over the limit");
            lists("415", "a body of another content type");
            lists("422", "a body of the wrong shape");
            for (media, entry) in body["content"].as_object().expect("request content") {
                resolve(&doc, &entry["schema"]);
                assert!(
                    ["application/json", "application/x-www-form-urlencoded"]
                        .contains(&media.as_str()),
                    "{at} takes {media}, which no extractor reads"
                );
            }
        }
        if method != "get" {
            lists("403", "the CSRF check every state-changing request passes");
        }
        if let Some(security) = op["security"].as_array() {
            lists("401", "it takes a session");
            for scheme in security.iter().flat_map(|s| s.as_object().unwrap().keys()) {
                assert!(
                    doc["components"]["securitySchemes"][scheme].is_object(),
                    "{at}: unknown security scheme {scheme}"
                );
            }
        }
        for parameter in op["parameters"].as_array().into_iter().flatten() {
            let schema = &parameter["schema"];
            if schema["type"] == "integer" {
                lists("400", "an integer parameter that is not one");
                // The server parses it into a fixed-size integer: the document says which.
                assert!(
                    schema["format"] == "int64" || schema["maximum"].is_u64(),
                    "{at}: integer parameter {} without the range the server reads",
                    parameter["name"]
                );
            }
        }
    }
    app.running.stop().await.unwrap();
}

/// Asserts that `answer` is one the document lists for `op`: its status, and then its content
/// type among that status's (no body where none is documented), and an error's body of the
/// Error schema.
fn assert_documented(at: &str, op: &Value, answer: &Answer, probe: &str) {
    let status = answer.status.as_u16().to_string();
    let listed = responses(op);
    let Some(response) = listed.get(&status) else {
        panic!(
            "{at}, {probe}: answered {status}, documented {:?}: {}",
            listed.keys().collect::<Vec<_>>(),
            answer.text()
        );
    };
    let Some(content) = response["content"].as_object() else {
        assert!(
            answer.body.is_empty(),
            "{at}, {probe}: {status} has no documented body, yet came with one"
        );
        return;
    };
    let essence = answer
        .header("content-type")
        .and_then(|ct| ct.split(';').next())
        .map(|ct| ct.trim().to_ascii_lowercase())
        .unwrap_or_else(|| panic!("{at}, {probe}: {status} without a content type"));
    let entry = content.get(&essence).unwrap_or_else(|| {
        panic!(
            "{at}, {probe}: {status} came as {essence}, documented {:?}",
            content.keys().collect::<Vec<_>>()
        )
    });
    if is_error_schema(&entry["schema"]) {
        assert!(
            answer.json()["error"].is_string(),
            "{at}, {probe}: {status} not of the Error schema: {}",
            answer.text()
        );
    }
}

/// A signed-in admin: its bearer token and its session cookie (one session each).
async fn admin_clients(app: &TestApp) -> (Client, Client) {
    let mut by_cookie = Client::new(app);
    let token = by_cookie.login("root", PASSWORD).await["token"]
        .as_str()
        .expect("token")
        .to_string();
    let by_bearer = Client {
        bearer: Some(token),
        ..Client::new(app)
    };
    (by_bearer, by_cookie)
}

/// A body of `media` with each of `schema`'s required string fields set to a value that breaks
/// every rule ("x": too short, and no current password): the right shape, refused on its merits.
fn rule_breaking(doc: &Value, schema: &Value, media: &str) -> Vec<u8> {
    let schema = resolve(doc, schema);
    let fields: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|name| schema["properties"][*name]["type"] == "string")
        .collect();
    if media == "application/json" {
        let object: Map<String, Value> =
            fields.iter().map(|f| (f.to_string(), json!("x"))).collect();
        Value::Object(object).to_string().into_bytes()
    } else {
        fields
            .iter()
            .map(|f| format!("{f}=x"))
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes()
    }
}

async fn probes_get_documented_answers(backend: Backend) {
    let config = switchboard_app::AppConfig {
        body_limit: LIMIT,
        ..test_config()
    };
    let app = start_with(backend, config).await;
    create_admin(&app, "root", PASSWORD).await;
    let doc = document(&app).await;
    let anonymous = Client::new(&app);
    let same_site = [("sec-fetch-site", "same-origin")];
    let mut probed = 0;
    for (path, method, op) in operations(&doc) {
        let at = format!("{} {path}", method.to_uppercase());
        let method: Method = method.to_uppercase().parse().unwrap();
        // A fresh session for each operation: POST /logout ends the one it is sent with.
        let (signed_in, by_cookie) = admin_clients(&app).await;
        let secured = op["security"].is_array();
        let client = if secured { &signed_in } else { &anonymous };
        let mut check = |answer: Answer, probe: &str, expected: Option<StatusCode>| {
            probed += 1;
            assert_documented(&at, &op, &answer, probe);
            if let Some(expected) = expected {
                assert_eq!(answer.status, expected, "{at}, {probe}: {}", answer.text());
            }
        };

        // An event stream answered 200 never ends: only its refusals are probed here (the
        // events tests read streams).
        let streams = op["responses"]["200"]["content"]["text/event-stream"].is_object();
        if !streams {
            let plain = client.send(method.clone(), &path, &[], None).await;
            check(plain, "no parameters, no body", None);
        }
        if secured {
            let a = anonymous.send(method.clone(), &path, &[], None).await;
            check(a, "not signed in", Some(StatusCode::UNAUTHORIZED));
            let stranger = Client {
                bearer: Some("0".repeat(64)),
                ..Client::new(&app)
            };
            let a = stranger.send(method.clone(), &path, &[], None).await;
            check(a, "an unknown token", Some(StatusCode::UNAUTHORIZED));
        }
        if method != Method::GET {
            let cross = [("origin", "http://elsewhere.example")];
            let a = by_cookie.send(method.clone(), &path, &cross, None).await;
            check(
                a,
                "cross-site, with the cookie",
                Some(StatusCode::FORBIDDEN),
            );
        }
        let Some(body) = op.get("requestBody") else {
            continue;
        };
        let send = |media: &'static str, bytes: Vec<u8>| {
            client.send(method.clone(), &path, &same_site, Some((media, bytes)))
        };
        let a = send("text/plain", b"{}".to_vec()).await;
        check(
            a,
            "a text/plain body",
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE),
        );
        let a = send("application/json", vec![b' '; LIMIT + 1]).await;
        check(
            a,
            "a body over the limit",
            Some(StatusCode::PAYLOAD_TOO_LARGE),
        );
        for (media, entry) in body["content"].as_object().unwrap() {
            let media: &'static str = match media.as_str() {
                "application/json" => "application/json",
                _ => "application/x-www-form-urlencoded",
            };
            if media == "application/json" {
                let a = send(media, b"{\"input\": [1,".to_vec()).await;
                check(a, "JSON cut short", Some(StatusCode::BAD_REQUEST));
                let a = send(media, b"[]".to_vec()).await;
                check(
                    a,
                    "JSON of the wrong shape",
                    Some(StatusCode::UNPROCESSABLE_ENTITY),
                );
            } else {
                let a = send(media, Vec::new()).await;
                check(a, "an empty form", Some(StatusCode::UNPROCESSABLE_ENTITY));
            }
            let bytes = rule_breaking(&doc, &entry["schema"], media);
            let a = send(media, bytes).await;
            check(a, &format!("{media}, breaking the rules"), None);
        }
    }
    assert!(probed > 50, "only {probed} probes");
    // Every JSON route of the router is documented, and nothing else.
    let mut documented: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    documented.sort_unstable();
    let mut expected = [
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
    ];
    expected.sort_unstable();
    assert_eq!(documented, expected);
    assert_eq!(operations(&doc).len(), 18);
    app.running.stop().await.unwrap();
}

both_backends!(probes_get_documented_answers);
