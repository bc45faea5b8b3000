#!/usr/bin/env bash
# The main job on shipped data: set up, train the bag-of-words sentiment model on the movie-review
# sentences, score the held-out test split, and explain two predictions.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
run=$(.venv/bin/textcls train --config configs/sentiment_bow.yaml)
.venv/bin/textcls eval "$run" data/sentiment/movies_test.csv
.venv/bin/textcls predict "$run" "a gorgeous, witty and moving film" "the plot is thin and the jokes fall flat"
