#!/usr/bin/env bash
# Creates .venv and installs textcls with its test dependencies.
# torch 2.13.0 (CPU) goes in first, so the project's torch range is already met and pip
# never reaches for a multi-gigabyte CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet torch==2.13.0
.venv/bin/pip install --quiet -e ".[dev]"
