//! What several subcommands share: building a collector from the global flags, sampling a
//! window with a progress bar on a terminal, and loading captures.

use super::GlobalArgs;
use crate::collector::{CaptureOptions, Collector};
use crate::snapshot::Capture;
use std::io::IsTerminal;
use std::time::Duration;

/// A collector for the root and namespace the global flags name.
pub fn collector(global: &GlobalArgs, options: CaptureOptions) -> crate::Result<Collector> {
    let root = global.root();
    match &global.netns {
        Some(spec) => Collector::in_netns(root, options, &crate::netns::resolve(spec)),
        None => Ok(Collector::new(root, options)),
    }
}

/// Sample a window of `interval`, with a progress bar on stderr when it is a terminal. Kernel
/// drop reasons are counted during the window when the eBPF drop monitor can run here.
pub fn capture(global: &GlobalArgs, interval: Duration) -> crate::Result<Capture> {
    let mut collector = collector(global, CaptureOptions::default())?.with_drops(true);
    let show =
        !global.quiet && std::io::stderr().is_terminal() && interval >= Duration::from_millis(500);
    if !show {
        return Ok(collector.capture(interval, |_| {}));
    }
    let bar = indicatif::ProgressBar::new(interval.as_millis() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("sampling {bar:30} {elapsed}/{duration}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let cap = collector.capture(interval, |elapsed| {
        bar.set_position(elapsed.as_millis() as u64)
    });
    bar.finish_and_clear();
    Ok(cap)
}
