"""train.precision: bf16 autocast trains on the CPU too; fp16 (loss scaling) needs CUDA."""

from __future__ import annotations

import json

import pytest
import torch

from textcls.errors import ConfigError
from textcls.train import train


def test_bf16_autocast_trains_to_the_same_answers(make_config, tmp_path):
    results = {p: train(make_config(train={"precision": p, "epochs": 3}), out=tmp_path / p) for p in ("fp32", "bf16")}
    fp32, bf16 = (
        json.loads((results[p].run_dir / "metrics.jsonl").read_text().splitlines()[-1]) for p in ("fp32", "bf16")
    )
    assert bf16["valid_accuracy"] == pytest.approx(fp32["valid_accuracy"], abs=0.05) and bf16["valid_accuracy"] > 0.9
    assert bf16["train_loss"] == pytest.approx(fp32["train_loss"], rel=0.1)  # bf16 keeps ~3 significant digits


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_fp16_without_cuda_is_a_config_error(make_config, tmp_path):
    with pytest.raises(ConfigError, match="train.precision fp16 needs a CUDA device"):
        train(make_config(train={"precision": "fp16", "device": "cpu"}), out=tmp_path / "x")
    assert not (tmp_path / "x").exists()
