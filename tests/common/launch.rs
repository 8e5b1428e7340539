//! Starting a server the way an operator does (a config file first, stdin, environment),
//! for the operations suite. A child module of `common`, so it builds `TestServer`s directly.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Flavor, TestServer, free_port, require_tool};

impl Flavor {
    /// The server program of this flavor.
    pub fn program(self) -> PathBuf {
        match self {
            Flavor::Shoal { .. } => PathBuf::from(env!("CARGO_BIN_EXE_shoal-server")),
            Flavor::Redis => require_tool("redis-server"),
        }
    }
}

/// What `TestServer::launch` runs: every argument, and optionally stdin text and environment.
#[derive(Default)]
pub struct Launch {
    pub args: Vec<String>,
    pub stdin: Option<Vec<u8>>,
    pub env: Vec<(String, String)>,
}

impl Launch {
    pub fn args(args: &[&str]) -> Launch {
        Launch {
            args: args.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        }
    }
}

impl TestServer {
    /// Starts a server exactly as an operator would: `make(port)` gives the complete argument
    /// list (a config file first, if any), optional stdin text and extra environment. The
    /// process runs in `dir` (so relative paths in a config resolve there) with stdout and
    /// stderr in `dir/server.log`; `dir` is the caller's and outlives the server. Retried on
    /// a fresh port when the process dies, since a port found free can be taken meanwhile.
    pub fn launch(flavor: Flavor, dir: &Path, make: impl Fn(u16) -> Launch) -> TestServer {
        let mut last_err = String::new();
        for _ in 0..5 {
            match Self::try_launch(flavor, dir, &make) {
                Ok(s) => return s,
                Err(e) => last_err = e,
            }
        }
        panic!("could not launch {flavor:?}: {last_err}");
    }

    fn try_launch(flavor: Flavor, dir: &Path, make: &impl Fn(u16) -> Launch) -> Result<TestServer, String> {
        let port = free_port();
        Self::launch_on(flavor, dir, port, make(port))
    }

    /// One launch on a given `port` (which `launch` must name): `Err` when the process dies
    /// before it answers PING, e.g. because it cannot bind.
    pub fn launch_on(flavor: Flavor, dir: &Path, port: u16, launch: Launch) -> Result<TestServer, String> {
        let log = std::fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut child = Command::new(flavor.program())
            .args(&launch.args)
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .current_dir(dir)
            .stdin(if launch.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("spawn {flavor:?}: {e}"))?;
        if let (Some(text), Some(mut pipe)) = (&launch.stdin, child.stdin.take()) {
            pipe.write_all(text).map_err(|e| e.to_string())?;
        }
        let mut server = TestServer {
            child,
            port,
            dir: dir.to_path_buf(),
            flavor,
            owns_dir: false,
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// The pid of the server process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}
