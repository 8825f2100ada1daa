//! `switchboard`: the whole client-server model in one binary. The binary's `main` only calls
//! [`run`]; the commands are a library so that their file settings can be fuzzed
//! ([`fuzzing`]) like the other crates' parsers.
//!
//! This crate is deliberately thin. It parses the command line in two layers (`args/`: raw,
//! as clap sees it; each command's module: validated into a library's typed configuration),
//! sets up logging and the runtime, and hands over to the library crates under `crates/`.
//! Every failure ends here as one line on standard error and an exit status: 2 for a usage
//! error, 1 for a runtime failure ([`failure::Failure`]).
#![forbid(unsafe_code)]

mod addr;
mod args;
mod backup;
mod balance;
mod bench;
mod client;
mod echo;
mod failure;
#[doc(hidden)]
pub mod fuzzing;
mod jobs;
mod limits;
mod logging;
mod parse;
mod runtime;
mod serve;
mod up;
mod users;

use std::process::ExitCode;

use clap::Parser;
use switchboard_client::Method;

use crate::args::{
    Args, BackupCommand, BenchCommand, Command, EchoCommand, ReportCommand, UsersCommand,
};

/// Parses the command line, runs the command, and says how it ended.
pub fn run() -> ExitCode {
    let args = Args::parse();
    let (verbose, quiet) = (args.verbose, args.quiet);
    // The client commands log nothing: they start without a log subscriber (it costs start-up
    // time), and for them -v shows the request. Everything else logs.
    let result = match args.command {
        Command::Get(c) => client::run(Method::GET, c, verbose, quiet),
        Command::Post(c) => client::run(Method::POST, c, verbose, quiet),
        Command::Put(c) => client::run(Method::PUT, c, verbose, quiet),
        Command::Patch(c) => client::run(Method::PATCH, c, verbose, quiet),
        Command::Delete(c) => client::run(Method::DELETE, c, verbose, quiet),
        Command::Head(c) => client::run(Method::HEAD, c, verbose, quiet),
        Command::Request(r) => client::request(r, verbose, quiet),
        Command::Echo(echo) => match echo.command {
            EchoCommand::Serve(serve) => {
                logging::init(verbose, quiet);
                echo::serve(serve)
            }
            EchoCommand::Send(send) => {
                logging::init(verbose, quiet);
                echo::send(send)
            }
        },
        Command::Serve(serve) => {
            logging::init(verbose, quiet);
            serve::serve(*serve)
        }
        Command::Users(users) => match users.command {
            UsersCommand::Create(create) => {
                logging::init(verbose, quiet);
                users::create(create)
            }
        },
        Command::Backup(backup) => {
            logging::init(verbose, quiet);
            match backup.command {
                BackupCommand::Now(now) => backup::now(now),
                BackupCommand::List(list) => backup::list(list),
            }
        }
        Command::Restore(restore) => {
            logging::init(verbose, quiet);
            backup::restore(restore)
        }
        Command::Report(report) => {
            logging::init(verbose, quiet);
            match report.command {
                ReportCommand::Now(now) => backup::report_now(now),
            }
        }
        Command::Up(up) => {
            logging::init(verbose, quiet);
            up::up(up)
        }
        Command::Balance(balance) => {
            logging::init(verbose, quiet);
            balance::balance(*balance)
        }
        Command::Bench(args) => {
            logging::init(verbose, quiet);
            let mut args = *args;
            match args.command.take() {
                Some(BenchCommand::Echo(echo)) => bench::echo(echo),
                None => bench::http(args),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
