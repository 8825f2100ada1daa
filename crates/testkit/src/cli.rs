//! The `switchboard` binary as a child process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};

use crate::PATIENCE;

/// Runs the binary. Integration tests of the binary's package pass
/// `env!("CARGO_BIN_EXE_switchboard")`.
#[derive(Clone, Debug)]
pub struct Cli {
    bin: PathBuf,
    env: Vec<(String, String)>,
    dir: Option<PathBuf>,
}

/// What a finished command did.
#[derive(Debug)]
pub struct Output {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it printed on standard output.
    pub stdout: Vec<u8>,
    /// Everything it printed on standard error, as text.
    pub stderr: String,
}

impl Output {
    /// The exit code; panics if the process was killed by a signal.
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {self:?}"))
    }

    /// Standard output as text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

impl Cli {
    /// The binary at `bin`.
    pub fn new(bin: impl Into<PathBuf>) -> Self {
        Cli {
            bin: bin.into(),
            env: Vec::new(),
            dir: None,
        }
    }

    /// The same binary, run in directory `dir`.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// The same binary, run with `key=value` in its environment.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .kill_on_drop(true);
        // Settings from the developer's environment must not leak into a test.
        for (key, _) in std::env::vars() {
            if key.starts_with("SWITCHBOARD_") && key != "SWITCHBOARD_TEST_POSTGRES" {
                cmd.env_remove(key);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        cmd
    }

    /// Runs `args` with `stdin` as standard input; fails the test past [`PATIENCE`].
    pub async fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", self.bin));
        let mut input = child.stdin.take().expect("piped");
        let stdin = stdin.to_vec();
        let feed = tokio::spawn(async move {
            let _ = input.write_all(&stdin).await;
        });
        let output = tokio::time::timeout(PATIENCE, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("switchboard {args:?} did not finish within {PATIENCE:?}"))
            .expect("wait for the child");
        let _ = feed.await;
        Output {
            status: output.status,
            stdout: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Starts a long-running command that announces nothing (a quiet server); the caller knows
    /// its address.
    pub async fn spawn_quiet(&self, args: &[&str]) -> ChildServer {
        let mut child = self
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", self.bin));
        let stderr = BufReader::new(child.stderr.take().expect("piped"));
        ChildServer {
            child,
            addr: "0.0.0.0:0".parse().expect("valid"),
            stderr,
        }
    }

    /// Starts a long-running command (a server) and waits until a line of its standard error
    /// contains `ready`; returns it with the first `IP:PORT` found on that line.
    pub async fn spawn_server(&self, args: &[&str], ready: &str) -> ChildServer {
        let mut child = self
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", self.bin));
        let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
        let mut seen = String::new();
        let addr = tokio::time::timeout(PATIENCE, async {
            let mut line = String::new();
            loop {
                line.clear();
                if stderr.read_line(&mut line).await.unwrap_or(0) == 0 {
                    panic!("switchboard {args:?} ended before it was ready; it said:\n{seen}");
                }
                seen.push_str(&line);
                if line.contains(ready) {
                    if let Some(addr) = find_addr(&line) {
                        return addr;
                    }
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("switchboard {args:?} not ready within {PATIENCE:?}"));
        ChildServer {
            child,
            addr,
            stderr,
        }
    }
}

/// The first `IP:PORT` (IPv4, or bracketed IPv6) in `line`.
fn find_addr(line: &str) -> Option<SocketAddr> {
    line.split(|c: char| c.is_whitespace() || c == '=' || c == '"' || c == ',')
        .find_map(|word| word.parse().ok())
}

/// A server running as a child process.
#[derive(Debug)]
pub struct ChildServer {
    child: Child,
    /// The address it reported.
    pub addr: SocketAddr,
    stderr: BufReader<ChildStderr>,
}

impl ChildServer {
    /// Its process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends `signal` (for example `"TERM"`) with `kill -s`.
    pub async fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("still running").to_string();
        let status = Command::new("kill")
            .args(["-s", signal, &pid])
            .status()
            .await
            .expect("run kill");
        assert!(status.success(), "kill -s {signal} {pid} failed");
    }

    /// Waits up to `within` for the process to exit; returns its status and the rest of its
    /// standard error.
    pub async fn wait(mut self, within: Duration) -> (ExitStatus, String) {
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("server did not exit within {within:?}"))
            .expect("wait for the child");
        let mut rest = String::new();
        let _ = self.stderr.read_to_string(&mut rest).await;
        (status, rest)
    }
}

#[cfg(test)]
mod tests {
    use super::find_addr;

    #[test]
    fn finds_addresses_in_log_lines() {
        assert_eq!(
            find_addr("INFO message server listening addr=127.0.0.1:4242 model=async"),
            Some("127.0.0.1:4242".parse().unwrap())
        );
        assert_eq!(
            find_addr("listening on [::1]:80"),
            Some("[::1]:80".parse().unwrap())
        );
        assert_eq!(find_addr("nothing here"), None);
    }
}
