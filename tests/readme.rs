//! The README's command-line reference is the binary's own: every
//! command's `--help` must appear in README.md verbatim (regenerate it
//! with `python3 docs/cli-help.py` after changing an option).

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_revshare");

#[test]
fn readme_holds_every_commands_help() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for cmd in [
        "run",
        "merge",
        "batch",
        "sweep",
        "sensitivity",
        "calibrate",
        "solve",
        "validate",
    ] {
        let o = Command::new(BIN).args([cmd, "--help"]).output().unwrap();
        assert!(o.status.success());
        let help = String::from_utf8(o.stdout).unwrap();
        assert!(
            readme.contains(help.trim_end()),
            "README.md does not hold `revshare {cmd} --help`; run python3 docs/cli-help.py"
        );
    }
}
