//! `GET /api/openapi.json`: an OpenAPI 3.1 description of every JSON route.
//!
//! One path item per route, which the route table (`routes/mod.rs`) names for each route it
//! documents; the document lists those, so it names no path the router
//! does not have. Written as a document, not derived from handler annotations: several routes take JSON or a
//! form by content type and answer pages or redirects to forms, which derive macros describe
//! poorly. Each operation lists every status it answers with, the refusals of the extractors
//! (`extract.rs`: 400, 408, 413, 415, 422) and of the layer every request passes (`observe.rs`:
//! 403 for a cross-site request) among them, and each answer's content types: errors are
//! `{"error": ...}`, except that the routes taking the HTML forms answer a form's errors with a
//! page. `tests/app/openapi.rs` holds it true, with the structure these rules imply and with
//! requests of each kind refused sent to every operation; `bench/contract/schemathesis.sh`
//! with generated requests.

use serde_json::{json, Map, Value};

use crate::routes::ROUTES;

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

/// An error a route that also takes the HTML forms answers in two ways: `{"error": ...}` to a
/// JSON request, an error page (the same status) to a form.
fn error_or_page(description: &str) -> Value {
    json!({
        "description": format!("{description}. A form gets an error page"),
        "content": {
            "application/json": { "schema": { "$ref": "#/components/schemas/Error" } },
            "text/html": { "schema": { "type": "string" } }
        }
    })
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn credentials_body() -> Value {
    json!({
        "required": true,
        "content": {
            "application/json": { "schema": reference("Credentials") },
            "application/x-www-form-urlencoded": { "schema": reference("Credentials") }
        }
    })
}

/// 400 for a body that is not JSON (or cannot be read).
const NOT_JSON: &str = "Body is not valid JSON, or could not be read";
/// 403 from the CSRF check every state-changing request passes (`auth/csrf.rs`).
const CROSS_SITE: &str =
    "Cross-site request from a browser (one carrying the session cookie, a form, or a sign-in)";
/// 408 from the body-read timeout or the request timeout.
const TOO_SLOW: &str =
    "The body did not arrive in time, or the answer took longer than the request timeout";
/// 413 from the body limit.
const TOO_LARGE: &str = "Body larger than the limit";
/// 503 from any route that asks the database.
const NO_DATABASE: &str = "The database is unavailable; see Retry-After";

/// `/add`.
pub fn add() -> Value {
    json!({ "get": {
        "summary": "Add two 64-bit integers",
        "parameters": [
            { "name": "a", "in": "query", "required": true, "schema": { "type": "integer", "format": "int64" } },
            { "name": "b", "in": "query", "required": true, "schema": { "type": "integer", "format": "int64" } }
        ],
        "responses": {
            "200": { "description": "a + b", "content": { "text/plain": { "schema": { "type": "string", "example": "8" } } } },
            "400": error_response("Missing, given more than once, not an integer, or the sum overflows")
        }
    }})
}

/// `/process` and `/api/process`.
pub fn process() -> Value {
    json!({ "post": {
        "summary": "Sum numbers",
        "description": "Integers sum exactly and the result must be a 64-bit signed integer (400 otherwise); if any element is a float, the result is a float.",
        "requestBody": {
            "required": true,
            "content": { "application/json": { "schema": reference("ProcessInput") } }
        },
        "responses": {
            "200": json_response("The sum", reference("ProcessResult")),
            "400": error_response("Body is not valid JSON, could not be read, or the sum overflows"),
            "403": error_response(CROSS_SITE),
            "408": error_response(TOO_SLOW),
            "413": error_response(TOO_LARGE),
            "415": error_response("Content-Type is not application/json"),
            "422": error_response("`input` is missing or not an array of numbers")
        }
    }})
}

/// `/api/users`.
pub fn users() -> Value {
    json!({
        "post": {
            "summary": "Register a user",
            "requestBody": credentials_body(),
            "responses": {
                "201": json_response("The new user", reference("User")),
                "303": { "description": "Form: signed in, redirected to the profile page" },
                "400": error_response(NOT_JSON),
                "403": error_response(CROSS_SITE),
                "408": error_response(TOO_SLOW),
                "409": error_or_page("Username is taken"),
                "413": error_response(TOO_LARGE),
                "415": error_response("Neither JSON nor a form"),
                "422": error_or_page("A field is missing or a rule is broken; the message says which"),
                "429": error_or_page("Too many sign-ups from this address; see Retry-After"),
                "503": error_or_page(NO_DATABASE)
            }
        },
        "get": {
            "summary": "List users (admins only)",
            "security": [{ "session": [] }, { "bearer": [] }],
            "parameters": [
                { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 50 } },
                { "name": "after", "in": "query", "description": "Only users with a greater id", "schema": { "type": "integer", "format": "int64" } }
            ],
            "responses": {
                "200": json_response("A page of users", reference("UserPage")),
                "400": error_response("Bad paging parameters"),
                "401": error_response("Not signed in"),
                "403": error_response("Not an admin"),
                "503": error_response(NO_DATABASE)
            }
        }
    })
}

/// `/login`.
pub fn login() -> Value {
    json!({ "post": {
        "summary": "Sign in",
        "description": "Sets the session cookie and returns the token for API clients. Repeated failures slow down, then get 429.",
        "requestBody": credentials_body(),
        "responses": {
            "200": json_response("Signed in", reference("Login")),
            "303": { "description": "Form: signed in, redirected to the profile page" },
            "400": error_response(NOT_JSON),
            "401": error_or_page("Unknown user or wrong password"),
            "403": error_response(CROSS_SITE),
            "408": error_response(TOO_SLOW),
            "413": error_response(TOO_LARGE),
            "415": error_response("Neither JSON nor a form"),
            "422": error_response("`username` or `password` missing, or not a string"),
            "429": error_or_page("Too many failures; see Retry-After"),
            "503": error_or_page(NO_DATABASE)
        }
    }})
}

/// `/logout`.
pub fn logout() -> Value {
    json!({ "post": {
        "summary": "Sign out: the session is deleted on the server and the cookie expired",
        "responses": {
            "204": { "description": "Signed out" },
            "303": { "description": "Form, or a client asking for HTML: back to the home page" },
            "403": error_response(CROSS_SITE),
            "408": error_response(TOO_SLOW),
            "503": error_response(NO_DATABASE)
        }
    }})
}

/// `/api/profile`.
pub fn profile() -> Value {
    json!({ "get": {
        "summary": "The signed-in user",
        "security": [{ "session": [] }, { "bearer": [] }],
        "responses": {
            "200": json_response("The profile", reference("Profile")),
            "401": error_response("Not signed in, or the session expired"),
            "503": error_response(NO_DATABASE)
        }
    }})
}

/// `/api/profile/password`.
pub fn password() -> Value {
    json!({ "post": {
        "summary": "Change the password; every session of the user is revoked and a new one returned",
        "description": "Checking the current password is throttled as signing in is.",
        "security": [{ "session": [] }, { "bearer": [] }],
        "requestBody": { "required": true, "content": { "application/json": { "schema": reference("PasswordChange") } } },
        "responses": {
            "200": json_response("Changed", reference("Login")),
            "400": error_response(NOT_JSON),
            "401": error_response("Not signed in, or the current password is wrong"),
            "403": error_response(CROSS_SITE),
            "408": error_response(TOO_SLOW),
            "413": error_response(TOO_LARGE),
            "415": error_response("Content-Type is not application/json"),
            "422": error_response("A field is missing or not a string, or the new password breaks a rule"),
            "429": error_response("Too many wrong current passwords; see Retry-After"),
            "503": error_response(NO_DATABASE)
        }
    }})
}

/// `/healthz`.
pub fn healthz() -> Value {
    json!({ "get": { "summary": "Alive", "responses": { "200": json_response("Alive", json!({ "type": "object" })) } } })
}

/// `/readyz`.
pub fn readyz() -> Value {
    json!({ "get": {
        "summary": "Ready: the database answers",
        "responses": { "200": json_response("Ready", json!({ "type": "object" })), "503": error_response("Database unreachable") }
    }})
}

/// `/metrics`.
pub fn metrics() -> Value {
    json!({ "get": {
        "summary": "Prometheus metrics",
        "responses": { "200": { "description": "Text exposition format", "content": { "text/plain": { "schema": { "type": "string" } } } } }
    }})
}

/// `/api/admin/jobs`.
pub fn admin_jobs() -> Value {
    json!({ "get": {
        "summary": "The scheduled jobs' runs (admins only)",
        "description": "Each job's runs by outcome and latest run, and the latest runs of all (or of `job`), newest first. From the database: the same from every server.",
        "security": [{ "session": [] }, { "bearer": [] }],
        "parameters": [
            { "name": "job", "in": "query", "description": "backup, report or cleanup", "schema": { "type": "string" } },
            { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 50 } }
        ],
        "responses": {
            "200": json_response("Jobs and runs", reference("Jobs")),
            "400": error_response("Bad parameters"),
            "401": error_response("Not signed in"),
            "403": error_response("Not an admin"),
            "503": error_response(NO_DATABASE)
        }
    } })
}

/// `/api/openapi.json`.
pub fn openapi() -> Value {
    json!({ "get": {
        "summary": "This document",
        "responses": { "200": json_response("OpenAPI 3.1", json!({ "type": "object" })) }
    }})
}

/// The document: every route of the table with a path item.
pub fn document() -> Value {
    let paths: Map<String, Value> = ROUTES
        .iter()
        .filter_map(|route| Some((route.path.to_owned(), (route.openapi?)())))
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Switchboard application server",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Stateless and stateful APIs. Errors are `{\"error\": \"...\"}`. Signed-in requests carry the session cookie or `Authorization: Bearer <token>`."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": { "type": "apiKey", "in": "cookie", "name": "sb_session", "description": "__Host-sb_session under TLS" },
                "bearer": { "type": "http", "scheme": "bearer" }
            },
            "schemas": {
                "Jobs": {
                    "type": "object", "required": ["jobs", "runs"],
                    "properties": {
                        "jobs": { "type": "array", "items": { "type": "object", "properties": {
                            "job": { "type": "string" },
                            "runs": { "type": "object", "additionalProperties": { "type": "integer" }, "description": "Runs by outcome: ok, failed, interrupted, running" },
                            "last_run": reference("JobRun"),
                            "last_success_at": { "type": ["string", "null"], "format": "date-time" }
                        } } },
                        "runs": { "type": "array", "items": reference("JobRun") }
                    }
                },
                "JobRun": { "type": "object", "properties": {
                    "id": { "type": "integer" },
                    "job": { "type": "string" },
                    "trigger": { "enum": ["schedule", "manual"] },
                    "runner": { "type": "string" },
                    "scheduled_for": { "type": ["string", "null"], "format": "date-time" },
                    "started_at": { "type": "string", "format": "date-time" },
                    "finished_at": { "type": ["string", "null"], "format": "date-time" },
                    "duration_ms": { "type": ["integer", "null"] },
                    "outcome": { "enum": ["running", "ok", "failed", "interrupted"] },
                    "bytes": { "type": ["integer", "null"] },
                    "detail": { "type": ["string", "null"] },
                    "error": { "type": ["string", "null"] }
                } },
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" } } },
                "ProcessInput": { "type": "object", "required": ["input"], "properties": { "input": { "type": "array", "items": { "type": "number" } } } },
                "ProcessResult": { "type": "object", "required": ["result"], "properties": { "result": { "type": "number" } } },
                "Credentials": {
                    "type": "object", "required": ["username", "password"],
                    "properties": {
                        "username": { "type": "string", "minLength": 3, "maxLength": 32, "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$" },
                        "password": { "type": "string", "minLength": 12, "maxLength": 128, "description": "At most 128 bytes in UTF-8" }
                    }
                },
                "PasswordChange": {
                    "type": "object", "required": ["current_password", "new_password"],
                    "properties": {
                        "current_password": { "type": "string" },
                        "new_password": { "type": "string", "minLength": 12, "maxLength": 128, "description": "At most 128 bytes in UTF-8" }
                    }
                },
                "User": {
                    "type": "object", "required": ["id", "username", "role", "created_at"],
                    "properties": {
                        "id": { "type": "integer" },
                        "username": { "type": "string" },
                        "role": { "type": "string", "enum": ["user", "admin"] },
                        "created_at": { "type": "string", "format": "date-time" }
                    }
                },
                "UserPage": {
                    "type": "object", "required": ["users", "next_after"],
                    "properties": {
                        "users": { "type": "array", "items": reference("User") },
                        "next_after": { "type": ["integer", "null"], "description": "Pass as `after` for the next page; null on the last" }
                    }
                },
                "Login": {
                    "type": "object", "required": ["user", "token"],
                    "properties": { "user": reference("User"), "token": { "type": "string", "description": "For Authorization: Bearer" } }
                },
                "Profile": {
                    "type": "object", "required": ["user", "session", "served_by"],
                    "properties": {
                        "user": reference("User"),
                        "session": { "type": "object", "properties": {
                            "created_at": { "type": "string", "format": "date-time" },
                            "expires_at": { "type": "string", "format": "date-time" }
                        }},
                        "served_by": { "type": "string" }
                    }
                }
            }
        }
    })
}
