#!/usr/bin/env bash
# Regenerates the charts shown in the README from the base scenario
# (100,000 paths, seed 42, as in scenarios/base.json). Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -- run scenarios/base.json --out out/base --quiet
cp out/base/charts/fan_revenue_openai.png docs/
cp out/base/charts/fan_cumulative_openai_to_microsoft.png docs/
echo "docs/fan_revenue_openai.png and docs/fan_cumulative_openai_to_microsoft.png regenerated"
