//! `switchboard echo serve` and `switchboard echo send`: flags validated into the echo crate's
//! configuration, then run.

use std::sync::Arc;

use switchboard_echo::client::{tcp_exchange, udp_exchange, ClientError};
use switchboard_echo::{EchoConfig, EchoServer, Model};
use switchboard_net::{ResolveError, Shutdown};

use crate::addr::listen_addr;
use crate::args::{ModelArg, SendArgs, ServeArgs};
use crate::failure::Failure;
use crate::runtime;

/// Runs the message server until SIGINT or SIGTERM.
pub fn serve(args: ServeArgs) -> Result<(), Failure> {
    let model = match args.model {
        ModelArg::Async => Model::Async,
        ModelArg::Threaded => Model::Threaded,
        ModelArg::Sequential => Model::Sequential,
    };
    let config = EchoConfig {
        model,
        udp: !args.no_udp,
        prefix: args.prefix.map(|p| Arc::from(p.into_bytes())),
        max_connections: args.max_connections as usize,
        max_line: args.max_line,
        idle_timeout: Some(args.idle_timeout).filter(|d| !d.is_zero()),
        grace: args.grace,
    };
    let runtime = match model {
        Model::Async => runtime::server()?,
        Model::Threaded | Model::Sequential => runtime::single()?,
    };
    runtime.block_on(async {
        let addr = listen_addr("--listen", &args.listen).await?;
        let server = EchoServer::bind(addr, config).map_err(Failure::runtime)?;
        let shutdown = Shutdown::new();
        shutdown.on_signals();
        server
            .run(shutdown)
            .await
            .map_err(|e| Failure::runtime(format!("message server failed: {e}")))
    })
}

/// Sends a message (or standard input) and prints the replies.
pub fn send(args: SendArgs) -> Result<(), Failure> {
    if args.timeout.is_zero() {
        return Err(Failure::usage("--timeout must be more than zero"));
    }
    let runtime = runtime::single()?;
    runtime.block_on(async {
        let stdout = tokio::io::stdout();
        let result = if args.message.is_empty() {
            let stdin = tokio::io::stdin();
            if args.udp {
                udp_exchange(
                    &args.server,
                    tokio::io::BufReader::new(stdin),
                    stdout,
                    args.timeout,
                )
                .await
            } else {
                tcp_exchange(&args.server, stdin, stdout, args.timeout).await
            }
        } else {
            let mut message = args.message.join(" ").into_bytes();
            if args.udp {
                udp_exchange(&args.server, &message[..], stdout, args.timeout).await
            } else {
                if !args.no_newline {
                    message.push(b'\n');
                }
                tcp_exchange(&args.server, &message[..], stdout, args.timeout).await
            }
        };
        result.map(drop).map_err(client_failure)
    })
}

fn client_failure(e: ClientError) -> Failure {
    match e {
        ClientError::Resolve(ResolveError::Malformed(_)) => Failure::usage(e),
        e => Failure::runtime(e),
    }
}
