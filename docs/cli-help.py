#!/usr/bin/env python3
"""Rewrites README.md's command-line reference from the binary's own --help.

Run after changing a command's options (from the repository root):
    cargo build --release && python3 docs/cli-help.py
tests/readme.rs checks that README.md holds every command's --help verbatim.
"""
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "revshare"
COMMANDS = ["run", "merge", "batch", "sweep", "sensitivity", "calibrate", "solve", "validate"]
START, END = "<!-- cli-help:start -->", "<!-- cli-help:end -->"

blocks = []
for cmd in COMMANDS:
    text = subprocess.run([str(BIN), cmd, "--help"], check=True, capture_output=True, text=True).stdout
    blocks.append(f"#### `revshare {cmd}`\n\n```text\n{text.rstrip()}\n```\n")
readme = (ROOT / "README.md").read_text()
head, rest = readme.split(START, 1)
_, tail = rest.split(END, 1)
(ROOT / "README.md").write_text(head + START + "\n" + "\n".join(blocks) + END + tail)
print("README.md: command-line reference regenerated")
