#!/usr/bin/env bash
# The GPU path, measured: the BiLSTM tagger (configs/pos_lstm.yaml) for one epoch on the GPU (fp32,
# bf16) and on the CPU, the char-CNN tagger with fp16, then eval on both devices and predict on the
# GPU. Prints each run's epoch line (training seconds, tokens/s, validation accuracy) and writes the
# runs under ${OUT:-bench/gpu}. Needs a CUDA device and textcls importable (python -m textcls).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/gpu}
ONE="--set train.epochs=1 --set train.eval_batch_size=4096"
python3 -m textcls train -c configs/pos_lstm.yaml $ONE --set train.device=cuda -o $OUT/pos_cuda --overwrite -q
python3 -m textcls train -c configs/pos_lstm.yaml $ONE --set train.device=cpu -o $OUT/pos_cpu --overwrite -q
python3 -m textcls train -c configs/pos_lstm.yaml $ONE --set train.device=cuda --set train.precision=bf16 -o $OUT/pos_bf16 --overwrite -q
python3 -m textcls train -c configs/pos_lstm_char.yaml $ONE --set train.device=cuda --set train.precision=fp16 -o $OUT/pos_char_fp16 --overwrite -q
for device in cuda cpu; do
  python3 -m textcls eval $OUT/pos_cuda data/pos/brown_test.csv.gz -f json --device $device --json $OUT/eval_$device.json > /dev/null
  python3 -c "import json; m = json.load(open('$OUT/eval_$device.json')); print('eval on $device: accuracy', m['accuracy'], 'unseen', m['unseen_accuracy'])"
done
python3 -m textcls predict $OUT/pos_cuda "The dog ate the book" -f json --device cuda
for run in pos_cpu pos_cuda pos_bf16 pos_char_fp16; do
  python3 -c "
import json
for line in open('$OUT/$run/metrics.jsonl'):
    r = json.loads(line)
    print('$run', 'epoch', r['epoch'], 'training s', round(r['seconds'], 1), 'tokens/s', round(r['tokens_per_second']), 'valid accuracy', round(100 * r['valid_accuracy'], 2))"
done
