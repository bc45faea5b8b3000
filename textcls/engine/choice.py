"""Which engine trains a config: PyTorch, or the compiled kernel (train.engine), and why not the
kernel when it cannot. Imports neither torch nor numba."""

from __future__ import annotations

from textcls.config import Config, resolve_threads
from textcls.errors import ConfigError

KERNEL_LOSSES = ("bce", "ce", "mse", "huber")
KERNEL_OPTIMIZERS = ("sgd_linear", "adagrad")


def unsupported(config: Config, per_token: bool, loss_name: str) -> str | None:
    """Why the compiled engine cannot train this config (the setting that chose PyTorch), or None."""
    model, optim, train = config.model, config.optim, config.train
    reasons = [
        (model.type != "bow", f"model.type is {model.type} (the kernel trains the bag of words)"),
        (per_token, "the task tags words (the kernel trains sentence models)"),
        (model.char_encoder != "none", f"model.char_encoder is {model.char_encoder}"),
        (bool(model.lexicon_features), "model.lexicon_features is set"),
        (config.data.weight_column is not None, "data.weight_column is set"),
        (model.freeze_pretrained, "model.freeze_pretrained is set"),
        (loss_name not in KERNEL_LOSSES, f"loss {loss_name} (the kernel computes {', '.join(KERNEL_LOSSES)})"),
        (bool(config.loss.regularizers), "loss.regularizers are set"),
        (optim.name not in KERNEL_OPTIMIZERS, f"optim.name is {optim.name} (the kernel runs sgd_linear, adagrad)"),
        (optim.grad_clip is not None, "optim.grad_clip is set"),
        (train.device == "cuda" or train.precision != "fp32", "train.device cuda or train.precision other than fp32"),
    ]
    return next((why for failed, why in reasons if failed), None)


def resolve_engine(config: Config, per_token: bool, loss_name: str) -> tuple[str, str]:
    """(`torch` or `compiled`, a line saying why). auto: the kernel wherever it can train the
    config, else PyTorch (the line names the setting that chose it); compiled, asked for, must fit."""
    why = unsupported(config, per_token, loss_name)
    if config.train.engine == "compiled" and why is not None:
        raise ConfigError(f"train.engine compiled cannot train this config: {why}; use train.engine torch")
    if config.train.engine == "torch" or (config.train.engine == "auto" and why is not None):
        if config.optim.name == "adagrad":
            raise ConfigError(
                "optim.name adagrad is the compiled engine's (row-wise AdaGrad)"
                + (f", which cannot train this config: {why}" if why else ": set train.engine auto or compiled")
            )
        return "torch", f"engine: torch ({'train.engine torch' if config.train.engine == 'torch' else why})"
    threads = kernel_threads(config)
    how = "lock-free, not reproducible" if config.train.hogwild and threads > 1 else "reproducible"
    return "compiled", f"engine: compiled (the bag of words, one update per example; {threads} thread(s), {how})"


def kernel_threads(config: Config) -> int:
    """The compiled engine's threads: train.threads, but `auto` is one thread unless train.hogwild
    (threads that train copies and sum their changes each step cost more than they gain on few
    cores; Hogwild's shared weights do not)."""
    threads = config.train.threads
    return resolve_threads(threads) if threads != "auto" or config.train.hogwild else 1
