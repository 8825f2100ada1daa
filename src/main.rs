//! `switchboard`: the whole client-server model in one binary; the commands are the
//! library's ([`switchboard::run`]).
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    switchboard::run()
}
