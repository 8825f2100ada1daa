//! `switchboard get|post|put|patch|delete|head` and `switchboard request`: flags validated
//! into the client crate's settings, the request built, sent, and shown.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use switchboard_client::exchange::{self, add_cookies};
use switchboard_client::output::{self, BINARY_NOTE};
use switchboard_client::session::session_path;
use switchboard_client::url::parse_url;
use switchboard_client::{
    download, parse_item, request, Auth, ClientConfig, ClientError, HttpVersion, Item, Method,
    Parts, RequestOptions, Session, Style, Version,
};

use crate::args::{ClientArgs, PrettyArg, RequestArgs};
use crate::failure::Failure;
use crate::runtime;

/// `switchboard request METHOD URL [ITEM...]`.
pub fn request(args: RequestArgs, verbose: u8, quiet: bool) -> Result<(), Failure> {
    let method = Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| Failure::usage(format!("'{}' is not an HTTP method", args.method)))?;
    run(method, args.client, verbose, quiet)
}

/// Runs one exchange (or, with `--offline`, prints the request).
pub fn run(method: Method, args: ClientArgs, verbose: u8, quiet: bool) -> Result<(), Failure> {
    let url = parse_url(&args.url).map_err(Failure::usage)?;
    let items = args
        .items
        .iter()
        .map(|a| parse_item(a))
        .collect::<Result<Vec<Item>, _>>()
        .map_err(Failure::usage)?;
    let terminal = std::io::stdout().is_terminal();
    let parts = match (&args.print, verbose) {
        (Some(letters), _) => Parts::parse(letters).map_err(Failure::usage)?,
        (None, 0) => Parts {
            response_head: terminal,
            response_body: true,
            ..Parts::default()
        },
        (None, _) => Parts::parse("HBhb").expect("valid letters"),
    };
    let colors_ok = std::env::var_os("NO_COLOR").is_none();
    let style = match args.pretty {
        Some(PrettyArg::All) => Style {
            format: true,
            colors: true,
        },
        Some(PrettyArg::Colors) => Style {
            format: false,
            colors: true,
        },
        Some(PrettyArg::Format) => Style {
            format: true,
            colors: false,
        },
        Some(PrettyArg::None) => Style::default(),
        None => Style {
            format: terminal,
            colors: terminal && colors_ok,
        },
    };
    let insecure = match args.verify.to_ascii_lowercase().as_str() {
        "yes" | "true" => false,
        "no" | "false" => true,
        other => {
            return Err(Failure::usage(format!(
                "--verify: '{other}' is not yes or no (for a CA file, use --cacert FILE)"
            )))
        }
    };
    let http_version = match args.http_version.as_deref() {
        None => HttpVersion::Auto,
        Some("1.1" | "1" | "http/1.1") => HttpVersion::Http1,
        Some("2" | "2.0" | "h2" | "http/2") => HttpVersion::Http2,
        Some(other) => {
            return Err(Failure::usage(format!(
                "--http-version: '{other}' is not 1.1 or 2"
            )))
        }
    };
    if args.timeout.is_some_and(|t| t.is_zero()) {
        return Err(Failure::usage("--timeout must be more than zero"));
    }
    let cacert = args
        .cacert
        .as_ref()
        .map(|path| {
            std::fs::read(path).map_err(|e| {
                Failure::usage(format!("--cacert: cannot read {}: {e}", path.display()))
            })
        })
        .transpose()?;
    let given_auth = credentials(&args)?;

    let session_file = match &args.session {
        Some(name) => {
            let dir = sessions_dir()?;
            Some(session_path(name, &url, &dir).map_err(Failure::usage)?)
        }
        None => None,
    };
    let mut session = match &session_file {
        Some(path) => Session::load(path).map_err(Failure::usage)?,
        None => Session::default(),
    };
    if given_auth.is_some() {
        session.auth = given_auth;
    }

    let has_data = items.iter().any(Item::is_data);
    let stdin = if !has_data && !args.ignore_stdin && !std::io::stdin().is_terminal() {
        let mut input = Vec::new();
        std::io::stdin()
            .read_to_end(&mut input)
            .map_err(|e| Failure::usage(format!("cannot read standard input: {e}")))?;
        Some(input)
    } else {
        None
    };
    let mut spec = request::build(
        url,
        &items,
        RequestOptions {
            method: Some(method),
            form: args.form,
            stdin,
            auth: session.auth.clone(),
        },
    )
    .map_err(Failure::usage)?;
    let user_cookie = spec.headers.contains_key("cookie");
    add_cookies(&mut spec, &session.cookies, user_cookie);

    let request_version = if http_version == HttpVersion::Http2 {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let request_parts = if args.offline && !parts.any_request() {
        Parts::parse("HB").expect("valid letters")
    } else {
        parts
    };
    if request_parts.any_request() {
        let mut text = Vec::new();
        if request_parts.request_head {
            text.extend(output::request_head(&spec, request_version, style).into_bytes());
        }
        if request_parts.request_body && !spec.body.is_empty() {
            let content_type = spec
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok());
            text.extend(shown_body(&spec.body, content_type, style, terminal));
            if !text.ends_with(b"\n") {
                text.push(b'\n');
            }
        }
        if !args.offline && parts.any_response() {
            text.push(b'\n');
        }
        write(&mut out, &text)?;
    }
    if args.offline {
        return flush(&mut out);
    }

    let config = ClientConfig {
        insecure,
        cacert,
        http_version,
        timeout: args.timeout,
        follow: args.follow.then_some(args.max_redirects),
    };
    let runtime = runtime::single()?;
    let outcome = runtime.block_on(async {
        let client = exchange::client(&config).map_err(client_failure)?;
        let (_, mut response) =
            exchange::send(&client, &config, spec, &mut session.cookies, user_cookie)
                .await
                .map_err(client_failure)?;
        let status = response.status();
        if parts.response_head {
            let head = output::response_head(response.version(), status, response.headers(), style);
            write(&mut out, head.as_bytes())?;
        }
        let downloading = args.download || args.output.is_some();
        if downloading && status.is_success() {
            flush(&mut out)?;
            let (path, chosen) = match &args.output {
                Some(path) => (path.clone(), true),
                None => (PathBuf::from(download::file_name(&response)), false),
            };
            let progress = std::io::stderr().is_terminal() && !quiet;
            let bytes = download::save(response, &path, chosen, progress)
                .await
                .map_err(|e| match e {
                    download::DownloadError::Exists(_) => Failure::usage(e),
                    e => Failure::runtime(e),
                })?;
            if progress {
                eprintln!("Saved {} ({bytes} bytes)", path.display());
            }
        } else if parts.response_body {
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if terminal || style != Style::default() {
                let body = response.bytes().await.map_err(|e| body_failure(&e))?;
                let mut shown = shown_body(&body, content_type.as_deref(), style, terminal);
                if terminal && !shown.is_empty() && !shown.ends_with(b"\n") {
                    shown.push(b'\n');
                }
                write(&mut out, &shown)?;
            } else {
                while let Some(chunk) = response.chunk().await.map_err(|e| body_failure(&e))? {
                    write(&mut out, &chunk)?;
                }
            }
        }
        Ok::<_, Failure>(status)
    });
    flush(&mut out)?;
    if let Some(path) = &session_file {
        session.cookies.purge(exchange::now());
        session.save(path).map_err(Failure::runtime)?;
    }
    let status = outcome?;
    let code = match status.as_u16() / 100 {
        3 => 3,
        4 => 4,
        5 => 5,
        _ => 0,
    };
    if code == 0 {
        return Ok(());
    }
    if !parts.response_head && !quiet {
        eprintln!(
            "warning: HTTP {} {}",
            status.as_str(),
            status.canonical_reason().unwrap_or("")
        );
    }
    Err(Failure::status(code))
}

/// `--auth USER:PASSWORD` (the password asked for when left out) or `--bearer TOKEN`.
fn credentials(args: &ClientArgs) -> Result<Option<Auth>, Failure> {
    if let Some(token) = &args.bearer {
        return Ok(Some(Auth::Bearer {
            token: token.clone(),
        }));
    }
    let Some(auth) = &args.auth else {
        return Ok(None);
    };
    let (username, password) = match auth.split_once(':') {
        Some((user, password)) => (user.to_string(), password.to_string()),
        None if std::io::stdin().is_terminal() => {
            let password = rpassword::prompt_password(format!("Password for {auth}: "))
                .map_err(|e| Failure::usage(format!("cannot read the password: {e}")))?;
            (auth.clone(), password)
        }
        None => {
            return Err(Failure::usage(
                "--auth: give USER:PASSWORD (no terminal to ask for the password on)",
            ))
        }
    };
    if username.is_empty() {
        return Err(Failure::usage("--auth: the user name is empty"));
    }
    Ok(Some(Auth::Basic { username, password }))
}

/// `$XDG_CONFIG_HOME/switchboard/sessions`, else `~/.config/switchboard/sessions`.
fn sessions_dir() -> Result<PathBuf, Failure> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .and_then(absolute)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(absolute)
                .map(|h| h.join(".config"))
        })
        .ok_or_else(|| {
            Failure::usage(
                "--session: no configuration directory (set XDG_CONFIG_HOME or HOME), \
                 or give the session as a path",
            )
        })?;
    Ok(base.join("switchboard").join("sessions"))
}

fn shown_body(body: &[u8], content_type: Option<&str>, style: Style, terminal: bool) -> Vec<u8> {
    if terminal && output::looks_binary(body) {
        return BINARY_NOTE.as_bytes().to_vec();
    }
    output::body(body, content_type, style)
}

fn client_failure(e: ClientError) -> Failure {
    match e {
        ClientError::Config(_) => Failure::usage(e),
        e => Failure::runtime(e),
    }
}

fn body_failure(e: &switchboard_client::reqwest::Error) -> Failure {
    Failure::runtime(format!("the answer broke off: {e}"))
}

/// Writes to standard output; a reader that went away (`| head`) is not an error.
fn write(out: &mut impl Write, bytes: &[u8]) -> Result<(), Failure> {
    match out.write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::runtime(format!("cannot write the output: {e}")))
        }
        _ => Ok(()),
    }
}

fn flush(out: &mut impl Write) -> Result<(), Failure> {
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::runtime(format!("cannot write the output: {e}")))
        }
        _ => Ok(()),
    }
}
