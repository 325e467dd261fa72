//! Running the supervisors' command-line tools (`systemctl`, `loginctl`, `launchctl`,
//! `schtasks`) with a bound on how long each may take, and the [`Runner`] seam the launchd
//! and schtasks drivers go through, so what they would run can be recorded and checked on
//! any platform.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One invocation's result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The most useful line of a failure.
    pub fn reason(&self) -> String {
        let s = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        s.lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output")
            .trim()
            .to_string()
    }
}

/// Run `argv` (program first) with stdin closed; killed after `timeout`.
pub fn run(argv: &[String], timeout: Duration) -> Output {
    let Some((program, args)) = argv.split_first() else {
        return Output {
            stderr: "empty command line".into(),
            ..Output::default()
        };
    };
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            return Output {
                stderr: format!("{program}: {e}"),
                ..Output::default()
            }
        }
    };
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let started = Instant::now();
    match rx.recv_timeout(timeout) {
        Ok(Ok(o)) => Output {
            ok: o.status.success(),
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        },
        Ok(Err(e)) => Output {
            stderr: format!("{program}: {e}"),
            ..Output::default()
        },
        Err(_) => {
            // The child is not reaped yet (the waiter thread holds it), so the pid is ours.
            let _ = crate::os::proc::signal(pid, libc::SIGKILL);
            Output {
                stderr: format!(
                    "{program} did not answer within {}s",
                    started.elapsed().as_secs()
                ),
                ..Output::default()
            }
        }
    }
}

/// Where a supervisor driver's command lines go.
pub trait Runner {
    fn run(&mut self, argv: &[String]) -> Output;
}

/// Runs the commands for real, each bounded by `timeout`.
pub struct System {
    pub timeout: Duration,
}

impl Runner for System {
    fn run(&mut self, argv: &[String]) -> Output {
        run(argv, self.timeout)
    }
}

/// Records every command line and answers from a script (the tests' runner): each
/// `(prefix, output)` answers the first command line that starts with `prefix`; anything
/// else succeeds with no output.
#[derive(Debug, Default)]
pub struct Recorder {
    pub calls: Vec<Vec<String>>,
    pub script: Vec<(Vec<String>, Output)>,
}

impl Recorder {
    pub fn answer(mut self, prefix: &[&str], out: Output) -> Self {
        self.script
            .push((prefix.iter().map(|s| s.to_string()).collect(), out));
        self
    }

    /// The recorded command lines, each joined with spaces.
    pub fn lines(&self) -> Vec<String> {
        self.calls.iter().map(|c| c.join(" ")).collect()
    }
}

impl Runner for Recorder {
    fn run(&mut self, argv: &[String]) -> Output {
        self.calls.push(argv.to_vec());
        self.script
            .iter()
            .find(|(p, _)| argv.starts_with(p))
            .map(|(_, o)| o.clone())
            .unwrap_or(Output {
                ok: true,
                code: Some(0),
                ..Output::default()
            })
    }
}
