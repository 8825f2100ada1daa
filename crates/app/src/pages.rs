//! Server-rendered pages: the profile, and an error page for the HTML forms. Plain HTML and
//! CSS, no JavaScript; every value is escaped.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::routes::{HOME, LOGOUT};
use crate::App;

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · Switchboard</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n\
         </head>\n<body>\n<header><h1>Switchboard</h1></header>\n<main>\n{body}\n</main>\n\
         <footer><a href=\"{HOME}\">Home</a></footer>\n</body>\n</html>\n",
        title = escape(title),
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// The signed-in user's page, saying which server answered.
pub fn profile(app: &App, auth: &Authenticated) -> Response {
    let user = &auth.user;
    let body = format!(
        "<section class=\"card\">\n<h2>Signed in as {name}</h2>\n<dl>\n\
         <dt>User id</dt><dd>{id}</dd>\n<dt>Role</dt><dd>{role}</dd>\n\
         <dt>Member since</dt><dd>{created}</dd>\n\
         <dt>Session expires</dt><dd>{expires}</dd>\n\
         <dt>Served by</dt><dd id=\"served-by\">{server}</dd>\n</dl>\n\
         <form method=\"post\" action=\"{LOGOUT}\"><button type=\"submit\">Sign out</button></form>\n\
         </section>",
        name = escape(&user.username),
        id = user.id,
        role = user.role.as_str(),
        created = user.created_at.to_rfc3339(),
        expires = auth.session.expires_at.to_rfc3339(),
        server = escape(&app.config().name),
    );
    page(StatusCode::OK, "Profile", &body)
}

/// An error answer for a form: the same status as the API would give, as a page.
pub fn error(_app: &App, e: &ApiError) -> Response {
    let title = match e.status {
        StatusCode::UNAUTHORIZED => "Sign-in failed",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY => "Cannot sign up",
        StatusCode::FORBIDDEN => "Refused",
        _ => "Something went wrong",
    };
    let body = format!(
        "<section class=\"card error\">\n<h2>{title}</h2>\n<p>{message}.</p>\n\
         <p><a href=\"{HOME}\">Back</a></p>\n</section>",
        title = escape(title),
        message = escape(&e.message),
    );
    let mut response = page(e.status, title, &body);
    if let Some(secs) = e.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, secs.into());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
