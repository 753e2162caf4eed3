//! The TAP reporter: one `ok N - what` / `not ok N - what: why` line per check, a
//! `1..N` plan at the end, and the exit status the harness reads.

use std::fmt::Debug;
use std::io::Write;

/// Counts checks and prints each one as a TAP line as soon as it is decided, so that a
/// checker killed half-way still shows how far it got.
#[derive(Debug, Default)]
pub struct Tap {
    count: u32,
    failed: u32,
}

impl Tap {
    pub fn new() -> Self {
        Self::default()
    }

    fn line(&mut self, status: &str, rest: &str) {
        self.count += 1;
        // One check is one line: a newline inside a message (an error from the kernel, a
        // file's content) would break the TAP stream, so it is escaped.
        let rest = rest.replace('\n', "\\n");
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{status} {} - {rest}", self.count);
        let _ = out.flush();
    }

    /// Records a passed check.
    pub fn pass(&mut self, what: &str) {
        self.line("ok", what);
    }

    /// Records a failed check and why it failed.
    pub fn fail(&mut self, what: &str, why: &str) {
        self.failed += 1;
        self.line("not ok", &format!("{what}: {why}"));
    }

    /// Records a check that does not apply (TAP's `# SKIP`); it counts as passed.
    pub fn skip(&mut self, what: &str, reason: &str) {
        self.line("ok", &format!("{what} # SKIP {reason}"));
    }

    /// Passes when `cond` holds, else fails with the message `why` builds.
    pub fn check(&mut self, cond: bool, what: &str, why: impl FnOnce() -> String) {
        if cond {
            self.pass(what);
        } else {
            self.fail(what, &why());
        }
    }

    /// Passes when `got == expected`, else fails with "expected X, got Y".
    pub fn eq<T: PartialEq + Debug + ?Sized>(&mut self, what: &str, expected: &T, got: &T) {
        self.check(expected == got, what, || {
            format!("expected {expected:?}, got {got:?}")
        });
    }

    /// Fails with the error of `res`, or hands its value on.
    pub fn try_ok<T, E: std::fmt::Display>(&mut self, what: &str, res: Result<T, E>) -> Option<T> {
        match res {
            Ok(v) => Some(v),
            Err(e) => {
                self.fail(what, &e.to_string());
                None
            }
        }
    }

    /// Prints the plan and a summary comment; returns whether every check passed.
    pub fn finish(&mut self) -> bool {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "1..{}", self.count);
        let _ = writeln!(out, "# {} checks, {} failed", self.count, self.failed);
        let _ = out.flush();
        self.failed == 0
    }
}
