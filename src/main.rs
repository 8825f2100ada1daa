//! `switchboard`: the whole client-server model in one binary.
//!
//! This crate is deliberately thin. It parses the command line in two layers (`args.rs`: raw,
//! as clap sees it; each command's module: validated into a library's typed configuration),
//! sets up logging and the runtime, and hands over to the library crates under `crates/`.
//! Every failure ends here as one line on standard error and an exit status: 2 for a usage
//! error, 1 for a runtime failure ([`failure::Failure`]).
#![forbid(unsafe_code)]

mod args;
mod bench;
mod echo;
mod failure;
mod logging;
mod parse;
mod runtime;
mod serve;
mod users;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Args, BenchCommand, Command, EchoCommand, UsersCommand};

fn main() -> ExitCode {
    let args = Args::parse();
    logging::init(args.verbose, args.quiet);
    let result = match args.command {
        Command::Echo(echo) => match echo.command {
            EchoCommand::Serve(serve) => echo::serve(serve),
            EchoCommand::Send(send) => echo::send(send),
        },
        Command::Serve(serve) => serve::serve(*serve),
        Command::Users(users) => match users.command {
            UsersCommand::Create(create) => users::create(create),
        },
        Command::Bench(args) => {
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
