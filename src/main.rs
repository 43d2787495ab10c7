//! The `revshare` binary: the command line (clap, indicatif, ctrlc and
//! anyhow live here, not in the library). `main` reads as a table of
//! contents: parse → load and validate → run → export, each step a call
//! into the library; errors are mapped to exit codes in [`cli::main`].

mod cli;

fn main() {
    // Like other command-line tools, end quietly when the reader of stdout
    // goes away (`revshare validate ... | head`) instead of panicking on
    // the failed print; results files are written before anything is printed.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE at start-up,
    // before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(cli::main());
}
