"""Losses by name, the rationale loss, regularisers, and the objective that sums them.

Every loss takes scores (N, C) and targets (N,) for the rows or tokens that count; the objective
selects those (padding and unlabelled words never reach a loss). The loss modules import torch;
this package's own namespace does not, so that the config can check a loss name and its options
without them: import what you use from its module (registry, objective, ...).
"""

# Each loss and the loss.* options it reads (setting one for another loss is an error, not a
# no-op). A new loss: its module, its factory in registry.LOSSES, and its line here.
LOSS_OPTIONS: dict[str, tuple[str, ...]] = {
    "bce": ("pos_weight",),
    "ce": ("class_weights", "label_smoothing"),
    "nll": ("class_weights",),
    "focal": ("class_weights", "alpha", "gamma"),
    "mse": (),
    "l1": (),
    "huber": ("beta",),
    "ranknet": ("ties", "pairs_per_item"),
    "contrastive": ("distance", "margin"),
    "triplet": ("distance", "margin", "mining"),
    "crf": (),
}
