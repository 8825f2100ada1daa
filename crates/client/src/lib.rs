//! Switchboard's command-line HTTP client, in the manner of httpie.
//!
//! A run goes: the URL ([`url::parse_url`], with the `:8080/path` shorthand) and the request
//! items ([`items::parse_item`]: `Header:value`, `name==query`, `field=text`, `field:=json`,
//! `field@file`) become a [`request::RequestSpec`] through [`request::build`], with nothing
//! sent yet, so it can be printed (`--offline`). [`exchange::send`] sends it with a reqwest
//! client ([`exchange::client`]: rustls on the ring provider, HTTP/2 through ALPN or h2c),
//! following redirects hop by hop so that every `Set-Cookie` reaches the
//! [`cookies::CookieJar`]. A [`session::Session`] keeps the jar and credentials between runs
//! in a JSON file. [`output`] shows what the user asked to see (`--print`), JSON indented and
//! coloured for a terminal; [`download`] saves a body to a file.
//!
//! The crate takes typed settings; the binary reads flags, the environment and the terminal.
//! `fuzzing` (hidden) holds the request items' properties, which a fuzz target under `fuzz/`
//! and the tests check.
#![forbid(unsafe_code)]

mod cookies;
pub mod download;
pub mod exchange;
#[doc(hidden)]
pub mod fuzzing;
mod items;
pub mod output;
pub mod request;
pub mod session;
pub mod url;

pub use exchange::{ClientConfig, ClientError, HttpVersion};
pub use items::{parse_item, Item, ItemError};
pub use output::{Parts, Style};
pub use request::{build, BuildError, RequestOptions, RequestSpec};
pub use reqwest;
pub use reqwest::{Method, StatusCode, Version};
pub use session::{Auth, Session, SessionError};
