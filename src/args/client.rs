//! Flags of the HTTP client commands (`get`, `post`, ..., `request`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args as ClapArgs, ValueEnum};

use crate::parse;

pub(super) const CLIENT_EXAMPLES: &str = "Request items:
  Header:value     a header (Header: leaves a default out, Header; sends it empty)
  name==value      a query parameter
  field=text       a JSON string field (a form field with --form)
  field:=json      a raw JSON value: n:=5, tags:='[\"a\"]'
  field=@file      a field whose text is a file's
  field:=@file     a raw JSON value from a file
  field@file       a file in a multipart form
A backslash makes a separator literal in a name: 'a\\=b=c'. A piped standard input becomes
the body when no data items are given (--ignore-stdin to skip). -v prints the request too.
Exit status: 0 for 1xx/2xx, 3/4/5 for 3xx/4xx/5xx, 1 when no answer came, 2 for bad usage.

Examples:
  switchboard get :8080/add a==5 b==3
  switchboard post :8080/api/process input:='[1, 2, 3]'
  switchboard post :8080/login username=ann password='a long passphrase' --session ann
  switchboard get :8080/api/profile --session ann
  switchboard post -f :8080/login username=ann password=secret --follow
  switchboard get https://localhost:8443/healthz --verify no --http-version 2
  switchboard get -d :8080/metrics -o metrics.txt";

/// Flags of `switchboard request`.
#[derive(Debug, ClapArgs)]
pub struct RequestArgs {
    /// The method: GET, POST, OPTIONS, ...
    #[arg(value_name = "METHOD")]
    pub method: String,

    #[command(flatten)]
    pub client: ClientArgs,
}

/// Flags of the HTTP client commands. `-v` (global) prints the request too.
#[derive(Debug, ClapArgs)]
pub struct ClientArgs {
    /// The URL: https://host/path, host:port/path (http), or :PORT/path (localhost).
    #[arg(value_name = "URL")]
    pub url: String,

    /// Request items (see below).
    #[arg(value_name = "ITEM")]
    pub items: Vec<String>,

    /// Data items as a form (application/x-www-form-urlencoded) rather than JSON.
    #[arg(short, long)]
    pub form: bool,

    /// What to print: H request headers, B request body, h response headers, b response
    /// body [default: hb on a terminal, b on a pipe].
    #[arg(short, long, value_name = "WHAT")]
    pub print: Option<String>,

    /// Formatting: indented JSON and colours [default: all on a terminal, none on a pipe].
    #[arg(long, value_enum, value_name = "STYLE")]
    pub pretty: Option<PrettyArg>,

    /// Print the request without sending it.
    #[arg(long)]
    pub offline: bool,

    /// Keep cookies and credentials between runs in session NAME (a name, or a file path).
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,

    /// HTTP Basic credentials; the password is asked for when left out.
    #[arg(short, long, value_name = "USER[:PASSWORD]")]
    pub auth: Option<String>,

    /// Send Authorization: Bearer TOKEN.
    #[arg(long, value_name = "TOKEN", conflicts_with = "auth")]
    pub bearer: Option<String>,

    /// Follow redirects.
    #[arg(short = 'F', long)]
    pub follow: bool,

    /// With --follow, the most redirects to follow.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_redirects: usize,

    /// Check the server's certificate: yes, or no to accept any.
    #[arg(long, value_name = "yes|no", default_value = "yes")]
    pub verify: String,

    /// Trust the CA certificates in this PEM file too.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// 1.1, or 2 (over TLS through ALPN; without TLS, h2c with prior knowledge) [default:
    /// HTTP/2 when the server offers it, else 1.1].
    #[arg(long, value_name = "VERSION")]
    pub http_version: Option<String>,

    /// Give up connecting, or waiting for the next bytes of the answer, after this.
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub timeout: Option<Duration>,

    /// Save the body to a file named after the response (never replacing a file).
    #[arg(short, long)]
    pub download: bool,

    /// Save the body to FILE (replacing it); implies --download.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Do not read a body from standard input.
    #[arg(long)]
    pub ignore_stdin: bool,
}

/// `--pretty`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PrettyArg {
    /// Indented JSON and colours.
    All,
    /// Colours only.
    Colors,
    /// Indented JSON only.
    Format,
    /// Exactly as received.
    None,
}
