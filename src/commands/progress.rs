//! Progress bars for `hoist fetch`, one per blob, on a terminal only: with stderr not a
//! terminal (scripts, CI, tests) nothing is drawn.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::image::digest::Expected;
use crate::image::store::progress::{BlobProgress, NoProgress, Progress};

/// indicatif bars on stderr.
pub struct Bars {
    multi: MultiProgress,
    style: ProgressStyle,
}

/// Bars when stderr is a terminal, else nothing.
pub fn for_stderr() -> Box<dyn Progress> {
    if !std::io::stderr().is_terminal() {
        return Box::new(NoProgress);
    }
    let style = ProgressStyle::with_template(
        "{prefix:.bold} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    Box::new(Bars {
        multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
        style,
    })
}

struct Bar(ProgressBar);

impl Progress for Bars {
    fn blob(&self, exp: &Expected) -> Box<dyn BlobProgress + '_> {
        let bar = self.multi.add(ProgressBar::new(exp.size));
        bar.set_style(self.style.clone());
        bar.set_prefix(exp.digest.hex()[..12].to_owned());
        Box::new(Bar(bar))
    }
}

impl BlobProgress for Bar {
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish();
    }
}
