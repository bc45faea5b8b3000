"""Compiled per-example training of the bag of words (models/bow/bag.py), fastText's way: one update
per example (plain SGD, or row-wise AdaGrad), touching only the rows of the embedding table the
example reads.

PyTorch spends about 1 ms of overhead on every optimiser step, so per-example updates there cannot
come near fastText's speed; here the forward pass, the loss gradient, the backward pass and the
update of one example are one compiled numba function (`kernel.py`, no torch) working in place on
float32 numpy arrays (views of the model's parameters: `model.embedding.weight.detach().numpy()`
shares their memory). `bow.py` is the numpy-facing side: `Inputs.of(encoded)`, `Loss`, `Optimizer`,
`Updater` (one thread, or several: copies merged each step, or Hogwild's shared table), `forward`,
`sgd_step`, `train_epoch`, `seeded`; `trainer.py` trains a run with it, and `choice.py` says which
engine trains a config (neither this package nor choice.py imports numba: a PyTorch run never
loads it).

What it computes, for one row of T tokens (embedding table E (F, D), head W (C, D), bias b (C,)):

    v_t    = (E[id_t] + sum of E[its character n-gram ids]) / (1 + their number)        (D,)
    m      = (sum_t v_t + sum over the row's hashed word n-grams g of E[g]) / (T + G)    (D,)
    logits = W m + b                                                                      (C,)
    s_t    = W v_t + sum over the n-grams g of n words that cover token t of W E[g] / n   (C,)

so sum_t s_t = (T + G) (logits - b), as BagOfWords.token_scores. The loss is the main loss of
the logits (bce: one logit, or one per label for multi-label 0/1 labels, with pos_weight; ce
with class weights and label smoothing; mse; huber), each as torch computes it for a batch of
one, plus rationale_weight * the rationale loss of the token scores (BCE-with-logits per
labelled word with pos_weight for C = 1, cross-entropy for C > 1, averaged over the row's
labelled words: for one example, normalize "sentence" and "token" agree). Training options:
dropout on each word vector and n-gram vector of the sum (per element, as torch's; token scores
see none, as the model's) and word dropout (the word's id replaced by the unknown id 1, its
character n-grams kept), drawn from a xorshift64* state passed in (`seeded(seed)`), so a run is
reproducible. With neither, one update equals torch autograd + torch.optim.SGD on a batch of one.
Weight decay multiplies the head and each row an example reads by 1 - lr * weight_decay before its
step; AdaGrad keeps one sum of squared gradients per table row (their mean over D) and per weight
of the head, and steps lr * g / (sqrt(sum) + eps).

Shapes: data = (offsets (R + 1,), ids (N,), ngrams (N, K) 0 = none, word_types (N,), sub_offsets
(L + 1,), sub_values (S,)), int64; labels (R, L) float32; targets (N,) int64 (IGNORE = -100 where a
word has none); E, W, b float32, C-contiguous, updated in place.

Compiled code is cached on disk (numba's cache=True), so only the first run on a machine compiles
(some seconds): in NUMBA_CACHE_DIR when that is set; else in `__pycache__` beside kernel.py; and
when that folder is not writable (a read-only install), in the user-wide cache folder numba's
appdirs names (on Linux $XDG_CACHE_HOME/numba or ~/.cache/numba). The cache is keyed on
kernel.py's contents and the argument types, and is not shared across numba versions.
"""
