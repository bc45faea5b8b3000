"""The bag of words' forward pass and per-example SGD update, compiled with numba (see the package
docstring for the maths, the shapes and where the compiled code is cached).

Every function takes the rows as the tuple `data` = (offsets (R + 1,), ids (N,), ngrams (N, K),
word_types (N,), sub_offsets (L + 1,), sub_values (S,)), all int64 (`bow.Inputs` builds it; no
character n-grams: word_types is empty), and the weights E (F, D), W (C, D), b (C,), float32,
which the updates change in place. No torch here.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from textcls.encoded import IGNORE
from textcls.vocab import Vocabulary

UNK = Vocabulary.unk_id

# Loss kinds (the first field of the `loss` tuple): what the sentence logits are scored with.
BCE, CE, MULTI_BCE, MSE, HUBER = 0, 1, 2, 3, 4

JIT = dict(nogil=True, cache=True)


# --- small pieces ---------------------------------------------------------------------------------


@njit(**JIT)
def uniform(state):
    """A float in [0, 1) from the xorshift64* generator whose state (uint64 (1,), nonzero) moves on."""
    x = state[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[0] = x
    return float((x * np.uint64(2685821657736338717)) >> np.uint64(40)) * (1.0 / 16777216.0)  # 24 random bits


@njit(**JIT)
def subword_span(data, p):
    """(lo, hi): token p's character n-gram ids are sub_values[lo:hi] (an empty span without them)."""
    word_types, sub_offsets = data[3], data[4]
    if len(word_types) == 0:
        return 0, 0
    w = word_types[p]
    return sub_offsets[w], sub_offsets[w + 1]


@njit(**JIT)
def word_vector(E, data, p, word, out):
    """out (D,) = token p's vector: (E[word] + its character n-grams' rows) / (1 + their number).
    Returns that share 1 / (1 + n), which each of those rows gets of the vector's gradient."""
    sub_values = data[5]
    lo, hi = subword_span(data, p)
    out[:] = E[word]
    for j in range(lo, hi):
        axpy(1.0, E[sub_values[j]], out)
    share = np.float32(1.0 / (1 + hi - lo))
    if hi > lo:
        for d in range(len(out)):
            out[d] *= share
    return share


@njit(**JIT)
def dot(x, y):
    total = np.float32(0.0)
    for d in range(len(x)):
        total += x[d] * y[d]
    return total


@njit(**JIT)
def axpy(a, x, out):
    """out += a x (vectors of D float32)."""
    a = np.float32(a)
    for d in range(len(out)):
        out[d] += a * x[d]


@njit(**JIT)
def add_masked(x, mask, dropped, out):
    """out += x * mask where `dropped`, else out += x."""
    if dropped:
        for d in range(len(out)):
            out[d] += x[d] * mask[d]
    else:
        for d in range(len(out)):
            out[d] += x[d]


@njit(**JIT)
def add_scores(W, v, scale, out):
    """out (C,) += scale * W v."""
    for c in range(W.shape[0]):
        out[c] += scale * dot(W[c], v)


@njit(**JIT)
def add_back(W, g, scale, out):
    """out (D,) += scale * W.T g."""
    for c in range(W.shape[0]):
        axpy(scale * g[c], W[c], out)


@njit(**JIT)
def softplus(x):
    """log(1 + exp(x)), without overflow."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@njit(**JIT)
def sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


# --- losses: the value, and its gradient written into `grad` -----------------------------------------


@njit(**JIT)
def bce(z, y, pos_weight):
    """(loss, dloss/dz) of BCE-with-logits as torch's: (1 - y) z + (1 + (pw - 1) y) softplus(-z)."""
    weight = 1.0 + (pos_weight - 1.0) * y
    return (1.0 - y) * z + weight * softplus(-z), (1.0 - y) - weight * sigmoid(-z)


@njit(**JIT)
def log_softmax(z, out):
    top = z.max()
    total = 0.0
    for c in range(len(z)):
        total += math.exp(z[c] - top)
    lse = top + math.log(total)
    for c in range(len(z)):
        out[c] = z[c] - lse


@njit(**JIT)
def cross_entropy(z, y, class_weights, smoothing, grad, scale):
    """torch's cross_entropy of one row (mean reduction over a batch of one): (1 - eps) nll +
    eps / C * sum_c w_c (-log p_c) / w_y. grad (C,) += scale * its gradient; returns the loss."""
    C = len(z)
    log_p = np.empty(C)
    log_softmax(z, log_p)
    w_y, w_sum, smooth = class_weights[y], class_weights.sum(), 0.0
    for c in range(C):
        smooth -= class_weights[c] * log_p[c]
    eps = smoothing
    for c in range(C):
        p = math.exp(log_p[c])
        g = (1.0 - eps) * (p - (1.0 if c == y else 0.0)) + eps / (C * w_y) * (w_sum * p - class_weights[c])
        grad[c] += scale * g
    return (1.0 - eps) * -log_p[y] + eps / C * smooth / w_y


@njit(**JIT)
def main_loss(kind, z, y, pos_weight, class_weights, smoothing, beta, grad):
    """The sentence loss of one row: z (C,) logits, y (L,) its label(s) as floats (a class index,
    0/1 per label, or a value). grad (C,) = dloss/dz; returns the loss (0 for an unlabelled row)."""
    grad[:] = 0.0
    if (kind == BCE or kind == CE) and y[0] == IGNORE:
        return 0.0
    if kind == BCE:
        loss, g = bce(z[0], y[0], pos_weight[0])
        grad[0] = g
        return loss
    if kind == MULTI_BCE:  # mean over the labels
        L, loss = len(z), 0.0
        for c in range(L):
            part, g = bce(z[c], y[c], pos_weight[c])
            loss += part
            grad[c] = g / L
        return loss / L
    if kind == CE:
        return cross_entropy(z, int(y[0]), class_weights, smoothing, grad, 1.0)
    d = z[0] - y[0]
    if kind == MSE:
        grad[0] = 2.0 * d
        return d * d
    if abs(d) <= beta:  # HUBER
        grad[0] = d
        return 0.5 * d * d
    grad[0] = beta if d > 0 else -beta
    return beta * (abs(d) - 0.5 * beta)


@njit(**JIT)
def rationale(S, targets, start, T, pos_weight, weight, GS):
    """The rationale loss of one row: S (T, C) token scores against targets[start:start + T]
    (IGNORE: unlabelled), the mean over its labelled words of BCE-with-logits (C = 1, pos_weight
    on the positive words) or cross-entropy (C > 1). GS (T, C) = weight * its gradient.
    Returns (loss, labelled words)."""
    GS[:T] = 0.0
    labelled, loss = 0, 0.0
    for t in range(T):
        labelled += targets[start + t] != IGNORE
    if labelled == 0:
        return 0.0, 0
    ones = np.ones(S.shape[1])
    for t in range(T):
        y = targets[start + t]
        if y == IGNORE:
            continue
        if S.shape[1] == 1:
            part, g = bce(S[t, 0], float(y), pos_weight)
            GS[t, 0] = weight * g / labelled
            loss += part
        else:
            loss += cross_entropy(S[t], y, ones, 0.0, GS[t], weight / labelled)
    return loss / labelled, labelled


# --- forward over rows (inference, validation) -------------------------------------------------------


@njit(**JIT)
def forward(data, E, W, b, rows, want_tokens):
    """(logits (R, C) of `rows`, token scores (N_rows, C) of their tokens row after row; (0, C)
    unless `want_tokens`). A token's score is W v_t plus 1/n of W E[g] for each n-gram g of n words
    it is in; sentence logits = W (sum of its vectors and n-gram vectors) / (T + G) + b."""
    offsets, ids, ngrams = data[0], data[1], data[2]
    C, D, K = W.shape[0], E.shape[1], ngrams.shape[1]
    n_tokens = 0
    if want_tokens:
        for r in rows:
            n_tokens += offsets[r + 1] - offsets[r]
    logits = np.empty((len(rows), C), dtype=np.float32)
    tokens = np.zeros((n_tokens, C), dtype=np.float32)
    v, total = np.empty(D, dtype=np.float32), np.empty(D, dtype=np.float32)
    out = 0  # first token score of the row
    for i in range(len(rows)):
        start, end = offsets[rows[i]], offsets[rows[i] + 1]
        total[:] = 0.0
        units = end - start
        for p in range(start, end):
            word_vector(E, data, p, ids[p], v)
            axpy(1.0, v, total)
            if want_tokens:
                add_scores(W, v, 1.0, tokens[out + p - start])
        for p in range(start, end):
            for k in range(K):
                g = ngrams[p, k]
                if g == 0:
                    continue
                units += 1
                axpy(1.0, E[g], total)
                if want_tokens:  # its n = k + 2 words share its score
                    for o in range(k + 2):
                        add_scores(W, E[g], 1.0 / (k + 2), tokens[out + p - start + o])
        for c in range(C):
            logits[i, c] = dot(W[c], total) / units + b[c]
        if want_tokens:
            out += end - start
    return logits, tokens


# --- one update on one example -----------------------------------------------------------------------

# Optimisers (the first field of the `optim` tuple): plain SGD, or AdaGrad with one accumulator per
# row of the table (the mean of its squared gradients: DLRM's row-wise AdaGrad) and one per
# element of W and b.
SGD, ADAGRAD = 0, 1


def workspace(data, D, C, F, max_tokens, max_rows):
    """Buffers for rows of up to `max_tokens` tokens reading up to `max_rows` table rows (words,
    their character n-grams, word n-grams), of a table of F rows, reused by every update of one
    thread (plain numpy: building them needs no compiled code)."""
    K = data[2].shape[1]
    T, G, U = max(max_tokens, 1), max(max_tokens * K, 1), max(max_rows, 1)
    f32 = np.float32
    return (
        np.empty((T, D), f32),  # V: token vectors (no dropout)
        np.empty(T, f32),  # share: 1 / (1 + character n-grams) of each token
        np.empty(T, np.int64),  # word: each token's word id (after word dropout)
        np.empty((G, 3), np.int64),  # grams: (flat position of the first word, id, n) of each n-gram
        np.empty((T + G, D), f32),  # mask: dropout's multipliers, tokens then n-grams
        np.empty((T, C), f32),  # S: token scores
        np.empty((T, C), f32),  # GS: d(weighted rationale loss)/dS
        np.empty((G, C), f32),  # GG: the same per n-gram (its words' GS summed, / n)
        np.empty(D, f32),  # m: the sentence vector, then scratch
        np.empty(D, f32),  # h: d loss / d (sum of the vectors)
        np.empty(C, f32),  # z: logits
        np.empty(C, f32),  # gz: d main loss / dz
        np.empty((C, D), f32),  # dW
        np.empty(T + G, np.int64),  # rows: the table rows the example reads, in order (plain path)
        np.zeros(F, np.int64),  # seen: (example << 24) | slot of the last example that read each table row
        np.empty(U, np.int64),  # unique: the rows this example reads, each once
        np.empty(U, f32),  # count: how often (plain path)
        np.empty((U, D), f32),  # grads: their gradients (other paths)
        np.zeros(1, np.int64),  # tick: this workspace's examples so far
    )


def no_tracking():
    """`track` for updates whose rows need no record (one thread, or Hogwild's shared table)."""
    return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(2, np.int64))


def no_state(C: int, D: int):
    """The `optim` accumulators of plain SGD (none)."""
    return np.zeros((0, 1), np.float32), np.zeros((0, D), np.float32), np.zeros((0, 1), np.float32)


@njit(**JIT)
def slot_for(row, work, n, with_grads):
    """(row's slot in this example's unique rows, the number of them): a new slot, its count (and
    gradient, `with_grads`) zeroed, the first time the example reads the row. seen[row] holds
    (example << 24) | slot of the last example that read it: one memory access."""
    seen, unique, count, grads, tick = work[14], work[15], work[16], work[17], work[18]
    mark = seen[row]
    if (mark >> 24) == tick[0]:
        return mark & 0xFFFFFF, n
    seen[row] = (tick[0] << 24) | n
    unique[n] = row
    count[n] = 0.0
    if with_grads:
        grads[n, :] = 0.0
    return n, n + 1


@njit(**JIT)
def record(row, track):
    """Row recorded in track = (stamps (F,), touched (F,), (interval, count)) for `merge`, once an interval."""
    stamps, touched, state = track
    if len(stamps) > 0 and stamps[row] != state[0]:
        stamps[row] = state[0]
        touched[state[1]] = row
        state[1] += 1


@njit(**JIT)
def update_row(E, row, scale, grad, mean_square, lr, keep, optim, track):
    """E[row] (gradient scale * grad (D,), whose mean square is scale^2 * mean_square, or < 0: not
    yet known): times keep (weight decay), then the optimiser's step; the row recorded in `track`."""
    kind, eps, G = optim[0], optim[1], optim[2]
    D = E.shape[1]
    step = -lr * scale
    if kind == ADAGRAD:
        if mean_square < 0:
            mean_square = 0.0
            for d in range(D):
                mean_square += grad[d] * grad[d]
            mean_square /= D
        G[row, 0] += scale * scale * mean_square
        step /= math.sqrt(G[row, 0]) + eps
    step = np.float32(step)
    if keep != 1.0:
        for d in range(D):
            E[row, d] = E[row, d] * keep + step * grad[d]
    else:
        for d in range(D):
            E[row, d] += step * grad[d]
    record(row, track)


@njit(**JIT)
def update_dense(W, b, dW, gz, lr, keep, optim):
    """W -= lr dW and b -= lr gz (AdaGrad: each element by its own rate), after weight decay."""
    kind, eps, GW, Gb = optim[0], optim[1], optim[3], optim[4]
    for c in range(W.shape[0]):
        for d in range(W.shape[1]):
            g = dW[c, d]
            rate = lr
            if kind == ADAGRAD:
                GW[c, d] += g * g
                rate = lr / (math.sqrt(GW[c, d]) + eps)
            W[c, d] = W[c, d] * keep - np.float32(rate) * g
        rate = lr
        if kind == ADAGRAD:
            Gb[c, 0] += gz[c] * gz[c]
            rate = lr / (math.sqrt(Gb[c, 0]) + eps)
        b[c] = b[c] * keep - rate * gz[c]


@njit(**JIT)
def fill_mask(mask, units, p, rng):
    """mask[:units] = 0 (probability p) or 1 / (1 - p), per element, as torch's dropout."""
    keep = np.float32(1.0 / (1.0 - p))
    for u in range(units):
        for d in range(mask.shape[1]):
            mask[u, d] = keep if uniform(rng) >= p else 0.0


@njit(**JIT)
def sentence_loss(m, units, W, b, loss, y, z, gz):
    """m (D,) /= units (the sum of the vectors becomes their mean); z (C,) = W m + b, the logits;
    gz = dloss/dz. Returns the main loss."""
    inv_units = np.float32(1.0 / units)
    for d in range(len(m)):
        m[d] *= inv_units
    for c in range(W.shape[0]):
        z[c] = dot(W[c], m) + b[c]
    return main_loss(loss[0], z, y, loss[1], loss[2], loss[3], loss[4], gz)


@njit(**JIT)
def step_plain(data, labels, E, W, b, r, lr, keep, loss, word_dropout, rng, optim, work, track):
    """`step_row` without dropout, character n-grams or word targets: fastText's update, every
    row the example reads moved by the same gradient W.T dloss/dz / (T + G) (times its count)."""
    offsets, ids, ngrams = data[0], data[1], data[2]
    m, h, z, gz, dW, rows, unique, count = work[8], work[9], work[10], work[11], work[12], work[13], work[15], work[16]
    C, D, K = W.shape[0], E.shape[1], ngrams.shape[1]
    start, end = offsets[r], offsets[r + 1]
    units = 0
    for p in range(start, end):
        rows[units] = UNK if word_dropout > 0 and uniform(rng) < word_dropout else ids[p]
        units += 1
    for p in range(start, end):
        for k in range(K):
            if ngrams[p, k] != 0:
                rows[units] = ngrams[p, k]
                units += 1
    m[:] = 0.0
    for u in range(units):
        row = rows[u]
        for d in range(D):
            m[d] += E[row, d]
    main = sentence_loss(m, units, W, b, loss, labels[r], z, gz)
    h[:] = 0.0
    add_back(W, gz, 1.0 / units, h)
    for c in range(C):
        a = np.float32(gz[c])
        for d in range(D):
            dW[c, d] = a * m[d]
    update_dense(W, b, dW, gz, lr, keep, optim)
    if optim[0] == SGD and keep == 1.0:  # each occurrence its own step: the same sum, no bookkeeping
        step = np.float32(-lr)
        for u in range(units):
            row = rows[u]
            for d in range(D):
                E[row, d] += step * h[d]
            record(row, track)
    else:  # each row once, with its count (AdaGrad's square and the decay are per row)
        n = 0
        for u in range(units):
            s, n = slot_for(rows[u], work, n, False)
            count[s] += 1.0
        mean_square = 0.0
        for d in range(D):
            mean_square += h[d] * h[d]
        mean_square /= D
        for i in range(n):
            update_row(E, unique[i], count[i], h, mean_square, lr, keep, optim, track)
    return main, 0.0, 0


@njit(**JIT)
def step_row(data, labels, targets, E, W, b, r, lr, keep, loss, drop, rng, optim, work, track):
    """One update of E, W and b (in place) on row r, with learning rate lr; weight decay multiplies
    W, b and each row the example reads by `keep` (1 - lr * weight_decay) first.

    loss = (kind, pos_weight (C,), class_weights (C,), label_smoothing, huber beta, rationale
    weight, rationale pos_weight); drop = (dropout, word_dropout), drawn from rng (uint64 (1,));
    optim = (SGD or ADAGRAD, eps, accumulators of E (F, 1), W (C, D), b (C, 1)); work: `workspace`'s
    buffers; track: see `record`. Returns (main loss, rationale loss, labelled words)."""
    offsets, ids, ngrams, sub_values = data[0], data[1], data[2], data[5]
    r_weight, r_pos_weight = loss[5], loss[6]
    dropout, word_dropout = drop
    rationale_on = r_weight > 0 and len(targets) > 0
    work[18][0] += 1  # (tick: a new example)
    if dropout == 0 and len(data[3]) == 0 and not rationale_on:
        return step_plain(data, labels, E, W, b, r, lr, keep, loss, word_dropout, rng, optim, work, track)
    V, share, word, grams, mask, S, GS, GG, m, h, z, gz, dW = work[:13]
    unique, grads = work[15], work[17]
    C, K = W.shape[0], ngrams.shape[1]
    start, end = offsets[r], offsets[r + 1]
    T = end - start

    # forward: token vectors, the n-grams present, the (dropped) sum, the logits
    for t in range(T):
        p = start + t
        word[t] = UNK if word_dropout > 0 and uniform(rng) < word_dropout else ids[p]
        share[t] = word_vector(E, data, p, word[t], V[t])
    G = 0
    for t in range(T):
        for k in range(K):
            if ngrams[start + t, k] != 0:
                grams[G, 0], grams[G, 1], grams[G, 2] = start + t, ngrams[start + t, k], k + 2
                G += 1
    units = T + G
    if dropout > 0:
        fill_mask(mask, units, dropout, rng)
    dropped = dropout > 0
    m[:] = 0.0
    for t in range(T):
        add_masked(V[t], mask[t], dropped, m)
    for j in range(G):
        add_masked(E[grams[j, 1]], mask[T + j], dropped, m)
    main = sentence_loss(m, units, W, b, loss, labels[r], z, gz)

    # rationale: token scores (no dropout on them, as the model's) and their gradient
    r_loss, labelled = 0.0, 0
    if rationale_on:
        S[:T] = 0.0
        for t in range(T):
            add_scores(W, V[t], 1.0, S[t])
        for j in range(G):
            t0, n = grams[j, 0] - start, grams[j, 2]
            for o in range(n):
                add_scores(W, E[grams[j, 1]], 1.0 / n, S[t0 + o])
        r_loss, labelled = rationale(S, targets, start, T, r_pos_weight, r_weight, GS)
        for j in range(G):
            t0, n = grams[j, 0] - start, grams[j, 2]
            for c in range(C):
                GG[j, c] = GS[t0 : t0 + n, c].sum() / np.float32(n)

    # backward, all from the weights as they were: dW (reads E), each row's gradient (reads W),
    # then the updates
    dW[:] = 0.0
    for c in range(C):
        axpy(gz[c], m, dW[c])
        if labelled:
            for t in range(T):
                axpy(GS[t, c], V[t], dW[c])
            for j in range(G):
                axpy(GG[j, c], E[grams[j, 1]], dW[c])
    h[:] = 0.0
    add_back(W, gz, 1.0 / units, h)  # d loss / d (each vector in the sum), before dropout
    grad = m  # (the sentence vector is not needed any more)
    n = 0
    for t in range(T):  # a word's vector is shared by its own row and its character n-grams' rows
        grad[:] = 0.0
        add_masked(h, mask[t], dropped, grad)
        if labelled:
            add_back(W, GS[t], 1.0, grad)
        s, n = slot_for(word[t], work, n, True)
        axpy(share[t], grad, grads[s])
        lo, hi = subword_span(data, start + t)
        for q in range(lo, hi):
            s, n = slot_for(sub_values[q], work, n, True)
            axpy(share[t], grad, grads[s])
    for j in range(G):
        grad[:] = 0.0
        add_masked(h, mask[T + j], dropped, grad)
        if labelled:
            add_back(W, GG[j], 1.0, grad)
        s, n = slot_for(grams[j, 1], work, n, True)
        axpy(1.0, grad, grads[s])
    for i in range(n):
        update_row(E, unique[i], 1.0, grads[i], -1.0, lr, keep, optim, track)
    update_dense(W, b, dW, gz, lr, keep, optim)
    return main, r_loss, labelled


CONSTANT, LINEAR, COSINE = 0, 1, 2  # how the learning rate decays after the warm-up


@njit(**JIT)
def learning_rate(schedule, step):
    """The learning rate of the run's `step`-th example: schedule = (lr, total examples, warm-up
    examples, CONSTANT / LINEAR / COSINE): trainer.lr_factor's, counted in examples."""
    lr, total, warmup, decay = schedule
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if decay == LINEAR:
        return lr * (1.0 - progress)
    if decay == COSINE:
        return lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    return lr


@njit(**JIT)
def train_rows(
    data, labels, targets, E, W, b, order, schedule, first_step, weight_decay, loss, drop, rng, optim, work, track
):
    """One update per row of `order`, in that order, the i-th as the run's example first_step + i
    (its learning rate from `schedule`). Returns (summed main loss, summed rationale loss, rows
    with labelled words) as float64 (3,)."""
    sums = np.zeros(3)
    for i in range(len(order)):
        lr = learning_rate(schedule, first_step + i)
        keep = np.float32(1.0 - lr * weight_decay)
        main, r_loss, labelled = step_row(
            data, labels, targets, E, W, b, order[i], lr, keep, loss, drop, rng, optim, work, track
        )
        sums[0] += main
        sums[1] += r_loss
        sums[2] += labelled > 0
    return sums


# --- shards: copies trained apart, merged on a fixed schedule ----------------------------------------


@njit(**JIT)
def merge_rows(A, copies, r):
    """A[r] += the sum of (copies[k, r] - A[r]); then every copies[k, r] = A[r]."""
    T, D = copies.shape[0], A.shape[1]
    for k in range(T):
        for d in range(D):
            copies[k, r, d] -= A[r, d]
    for k in range(T):
        for d in range(D):
            A[r, d] += copies[k, r, d]
    for k in range(T):
        for d in range(D):
            copies[k, r, d] = A[r, d]


@njit(**JIT)
def merge(tables, dense, table_copies, dense_copies, touched, states, done, part, parts):
    """Each thread k trained its own copy of the weights since the last merge, starting from the
    same ones; now every row any copy touched (touched[k, :states[k, 1]]) of the `tables` (E, and
    its accumulators) and every row of the `dense` arrays (W, b, theirs) becomes the weights plus
    the sum of the copies' changes (Hogwild's sum of updates, in a fixed order), and the copies
    start again from it. `parts` calls run at once, this one merging the table rows r with
    r % parts == part (the last one also the dense arrays); done (F,) int64: scratch marks."""
    T = states.shape[0]
    interval = states[0, 0]
    for k in range(T):
        for j in range(states[k, 1]):
            r = touched[k, j]
            if r % parts == part and done[r] != interval:
                done[r] = interval
                for a in range(len(tables)):
                    merge_rows(tables[a], table_copies[a], r)
    if part == parts - 1:
        merge_dense(dense, dense_copies)


@njit(**JIT)
def merge_dense(dense, dense_copies):
    """Every row of the `dense` arrays (W, b as (C, 1), their accumulators) becomes itself plus the
    sum of its copies' changes, and the copies start again from it."""
    for a in range(len(dense)):
        for c in range(dense[a].shape[0]):
            merge_rows(dense[a], dense_copies[a], c)
