//! The route table: every path the application answers, written once, with what answers it and
//! the rules that follow from it. Everything else reads the table:
//!
//! - [`router`] builds the axum router from it;
//! - [`RouteId`] is a request's entry in it, what metrics label the request with (the path,
//!   or [`FALLBACK_LABEL`] for a path it does not name, so a scan of random URLs cannot grow
//!   the label set) and what `observe.rs` reads the private-answer rule from;
//! - `openapi.rs` lists the routes that carry an OpenAPI description;
//! - `service.rs` takes an entry's [`Fast`] path, where it has one.
//!
//! A path the site serves but the table does not name (`/style.css`, a `--site` directory's
//! files) goes to the site: its handler is the router's fallback, and its cache the
//! fallback's fast path ([`FALLBACK_FAST`]).

pub mod auth;
pub mod calc;
pub mod events;
pub mod feed;
pub mod health;
pub mod jobs;
pub mod posts;
pub mod site;
pub mod users;

use std::future::Future;
use std::pin::Pin;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, MethodRouter};
use axum::Router;
use serde_json::Value;

use crate::error::ApiError;
use crate::{observe, openapi, App};

/// The home page.
pub const HOME: &str = "/";
/// Signing in.
pub const LOGIN: &str = "/login";
/// Signing out.
pub const LOGOUT: &str = "/logout";
/// The signed-in user's page.
pub const PROFILE_PAGE: &str = "/profile";
/// The metrics label of every request whose path the table does not name.
pub const FALLBACK_LABEL: &str = "other";

/// One entry of the table.
pub struct Route {
    /// The path, matched exactly; also the route's metrics label.
    pub path: &'static str,
    /// What the router runs for it, by method.
    pub methods: fn() -> MethodRouter<App>,
    /// Its answers carry tokens or a user's data: they say `Cache-Control: no-store`, so no
    /// cache keeps them.
    pub private: bool,
    /// Its path item in the OpenAPI document (`openapi.rs`), for the routes it describes.
    pub openapi: Option<fn() -> Value>,
    /// An answer without the router, for the routes where the benchmark shows it pays.
    pub fast: Option<Fast>,
}

impl Route {
    /// `path`, answered by `methods`: public, undocumented, no fast path.
    const fn new(path: &'static str, methods: fn() -> MethodRouter<App>) -> Route {
        Route {
            path,
            methods,
            private: false,
            openapi: None,
            fast: None,
        }
    }

    const fn private(self) -> Route {
        Route {
            private: true,
            ..self
        }
    }

    const fn openapi(self, item: fn() -> Value) -> Route {
        Route {
            openapi: Some(item),
            ..self
        }
    }

    const fn fast(self, fast: Fast) -> Route {
        Route {
            fast: Some(fast),
            ..self
        }
    }
}

/// The future of a [`Fast::Post`] answer.
pub type DirectFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// A route's way around the router: the same answer as its handler gives, without axum's
/// dynamic dispatch and middleware boxing, which cost more than the cheapest answers
/// themselves. `service.rs` takes it; stamping and counting are `observe.rs`'s either way.
#[derive(Clone, Copy)]
pub enum Fast {
    /// A `GET` (or `HEAD`, whose answer is the same without its body) answered from the
    /// request's head, with nothing to wait for; `None` leaves the request to the router.
    Get(fn(&App, &Uri, &HeaderMap) -> Option<Response>),
    /// A `POST` answered after reading its body, under the router's CSRF check and request
    /// timeout ([`observe::guarded`]).
    Post(fn(App, RouteId, Request) -> DirectFuture),
}

/// Every route the application answers.
pub const ROUTES: &[Route] = &[
    Route::new(HOME, || get(site::serve)).fast(Fast::Get(site::cached)),
    Route::new("/index.html", || get(site::serve)).fast(Fast::Get(site::cached)),
    Route::new("/add", || get(calc::add))
        .openapi(openapi::add)
        .fast(Fast::Get(|_, uri, _| Some(calc::answer_add(uri.query())))),
    Route::new("/process", || post(calc::process))
        .openapi(openapi::process)
        .fast(Fast::Post(process)),
    Route::new("/api/process", || post(calc::process))
        .openapi(openapi::process)
        .fast(Fast::Post(process)),
    Route::new("/api/users", || post(users::register).get(users::list))
        .private()
        .openapi(openapi::users),
    Route::new(LOGIN, || post(auth::login))
        .private()
        .openapi(openapi::login),
    Route::new(LOGOUT, || post(auth::logout))
        .private()
        .openapi(openapi::logout),
    Route::new(PROFILE_PAGE, || get(auth::profile_page)).private(),
    Route::new("/api/profile", || get(auth::profile_api))
        .private()
        .openapi(openapi::profile)
        .fast(Fast::Get(|app, _, headers| {
            auth::cached_profile(app, headers)
        })),
    Route::new("/api/profile/password", || post(auth::change_password))
        .private()
        .openapi(openapi::password),
    Route::new("/healthz", || get(health::healthz)).openapi(openapi::healthz),
    Route::new("/readyz", || get(health::readyz)).openapi(openapi::readyz),
    Route::new("/metrics", || get(health::metrics)).openapi(openapi::metrics),
    Route::new("/api/admin/jobs", || get(jobs::list))
        .private()
        .openapi(openapi::admin_jobs),
    Route::new("/api/posts", || post(posts::create).get(posts::list))
        .private()
        .openapi(posts::openapi_posts),
    Route::new("/api/posts/{id}", || delete(posts::delete))
        .private()
        .openapi(posts::openapi_post),
    Route::new("/feed", || get(feed::page)).private(),
    Route::new("/feed.js", || get(feed::script)),
    Route::new("/feed.css", || get(feed::style)),
    Route::new("/api/events", || get(events::stream))
        .private()
        .openapi(events::openapi),
    Route::new("/api/openapi.json", || {
        // Made once per router, shared by every answer.
        let document = axum::Json(openapi::document());
        get(move || async move { document.clone() })
    })
    .openapi(openapi::openapi),
];

/// The fast path of every path the table does not name: the site's file from memory, when
/// it is there (its compressed forms made once; no stat, open or read); otherwise the router's
/// fallback, [`site::serve`], reads the disk.
pub const FALLBACK_FAST: Fast = Fast::Get(site::cached);

/// `POST /process` and `/api/process`: the handler's answer, without the router.
fn process(app: App, route: RouteId, req: Request) -> DirectFuture {
    let limit = app.config().body_limit;
    Box::pin(observe::guarded(app, route, req, move |req| {
        calc::answer_process(req, limit)
    }))
}

/// A request's entry in [`ROUTES`], or the fallback: what metrics count it under and what the
/// rules for its answer are read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteId(usize);

impl RouteId {
    /// How many there are: one per table entry, and the fallback.
    pub const COUNT: usize = ROUTES.len() + 1;
    /// Every path the table does not name.
    pub const FALLBACK: RouteId = RouteId(ROUTES.len());

    /// The entry for `path`: the one naming it exactly, else one whose template (`{id}` for
    /// any one segment) it fits.
    pub fn of(path: &str) -> RouteId {
        ROUTES
            .iter()
            .position(|route| route.path == path)
            .or_else(|| {
                ROUTES
                    .iter()
                    .position(|route| route.path.contains('{') && fits(route.path, path))
            })
            .map_or(Self::FALLBACK, RouteId)
    }

    /// Every entry, the fallback last, in the table's order.
    pub fn all() -> impl Iterator<Item = RouteId> {
        (0..Self::COUNT).map(RouteId)
    }

    /// Its place among [`RouteId::all`], below [`RouteId::COUNT`].
    pub fn index(self) -> usize {
        self.0
    }

    /// The table's entry; `None` for the fallback.
    pub fn route(self) -> Option<&'static Route> {
        ROUTES.get(self.0)
    }

    /// The metrics label: the path, or [`FALLBACK_LABEL`].
    pub fn label(self) -> &'static str {
        self.route().map_or(FALLBACK_LABEL, |route| route.path)
    }

    /// Whether its answers are private (`Cache-Control: no-store`).
    pub fn is_private(self) -> bool {
        self.route().is_some_and(|route| route.private)
    }

    /// Its way around the router, if it has one; the fallback's is [`FALLBACK_FAST`].
    pub fn fast(self) -> Option<Fast> {
        match self.route() {
            Some(route) => route.fast,
            None => Some(FALLBACK_FAST),
        }
    }
}

/// Whether `path` fits `template`: the same segments, a `{name}` segment standing for any one
/// that is not empty.
fn fits(template: &str, path: &str) -> bool {
    let mut segments = path.split('/');
    template.split('/').all(|want| match segments.next() {
        Some(got) if want.starts_with('{') => !got.is_empty(),
        Some(got) => got == want,
        None => false,
    }) && segments.next().is_none()
}

/// Builds the application's router from [`ROUTES`].
pub fn router(app: App) -> Router {
    // The site's files are the fallback; they come compressed (gzip or brotli) when the
    // client accepts it, each form made once (`site/asset.rs`), not by a layer per answer.
    let mut router = Router::new().fallback(site::serve);
    for route in ROUTES {
        router = router.route(route.path, (route.methods)());
    }
    router
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed").into_response()
        })
        .layer(DefaultBodyLimit::max(app.config().body_limit))
        .layer(from_fn_with_state(app.clone(), observe::observe))
        .with_state(app)
}

#[cfg(test)]
mod tests;
