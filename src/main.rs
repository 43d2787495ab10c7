//! The `revshare` binary: a thin shell over [`revshare::cli`].

fn main() {
    std::process::exit(revshare::cli::main());
}
