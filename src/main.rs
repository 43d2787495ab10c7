//! The `revshare` binary: a thin shell over [`revshare::cli`].

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
    std::process::exit(revshare::cli::main());
}
