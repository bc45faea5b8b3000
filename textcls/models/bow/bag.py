"""The bag of words: a fastText-style linear classifier."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from textcls.batching import Batch
from textcls.models.base import ModelOutput, TextModel, drop_words, embed_words, subword_counts

if TYPE_CHECKING:
    from textcls.models.bow import BowConfig


class BagOfWords(TextModel):
    """Sentence logit = mean of the token scores + bias, where a token's score is `token_head`
    (linear, no bias) applied to its vector, plus its share of the hashed word n-grams it belongs to.

    Because the head is linear, this equals fastText's "average the vectors, then classify": the
    sentence logits come from `EmbeddingBag` sums over each row's words, character n-grams and word
    n-grams (B x D work after the look-ups), and the per-token scores, which only rationale
    supervision and explanations read, are computed only when asked for.
    """

    def __init__(self, cfg: BowConfig, num_features: int, outputs: int, log_softmax: bool = False):
        super().__init__(cfg, num_features, log_softmax)  # dropout applies to each word and n-gram vector
        nn.init.uniform_(self.embedding.weight, -1 / cfg.embedding_dim, 1 / cfg.embedding_dim)  # as fastText
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        self.token_head = nn.Linear(self.input_dim, outputs, bias=False)  # words, then characters' vectors
        self.bias = nn.Parameter(torch.zeros(outputs))

    def _bag(self, ids: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """(B, D) sum of the vectors of each bag (`offsets`: where each bag starts in `ids`). No id
        here is 0 (padding), so no padding_idx, which would double the cost of the look-up."""
        return F.embedding_bag(
            ids, self.embedding.weight, offsets, mode="sum", per_sample_weights=weights, sparse=self.embedding.sparse
        )

    def scores(self, batch: Batch) -> ModelOutput:
        ids = drop_words(batch.ids, self.word_dropout if self.training else 0.0)
        units = batch.lengths.to(ids.device).float()  # (B,) words + n-grams averaged over
        if batch.ngrams is not None:
            units = units + batch.ngram_counts.float()
        if self.training and self.dropout.p > 0:
            total = self._dropped_sum(batch, ids)
        else:
            total = self._sum(batch, ids)
        # The head applied to the mean vector (F.linear, not the module: forward hooks on `token_head`,
        # as activation_l1 sets, see the per-token scores, which `token_scores` computes with it).
        extra = self.extra_columns(batch, dropout=True)
        if extra is not None:  # each word's characters' vector and valences, summed per row like its word vector
            total = torch.cat([total, extra.new_zeros(batch.size, extra.shape[1]).index_add(0, batch.row_of, extra)], 1)
        mean = total / units.unsqueeze(1)  # (B, D + H + K) the sentence's vector
        sentence = F.linear(mean, self.token_head.weight) + self.bias  # (B, C)
        return ModelOutput(sentence, batch=batch, flat_tokens=lambda: self.token_scores(batch, ids), embedding=mean)

    def extra_columns(self, batch: Batch, dropout: bool = False) -> torch.Tensor | None:
        """(N, H + K) what each token adds to its word vector, which the head's last columns read: its
        characters' vector (H, with dropout when asked) and its lexicon valences (K); None without."""
        parts = []
        if self.char_encoder is not None:
            chars = self.char_encoder.words(batch)
            parts.append(self.dropout(chars) if dropout else chars)
        if self.lexicon_inputs:
            parts.append(batch.lexicon.to(self.token_head.weight.dtype))
        return torch.cat(parts, dim=-1) if parts else None

    def _sum(self, batch: Batch, ids: torch.Tensor) -> torch.Tensor:
        """(B, D) sum of each row's word vectors and n-gram vectors, as bags (no per-token tensor)."""
        if batch.subwords is None:
            total = self._bag(ids, batch.offsets)
        else:  # a word's vector is the mean of its own and its character n-grams' vectors
            share = 1.0 / (1 + subword_counts(batch)).float()  # (N,)
            sub_share = torch.repeat_interleave(share, subword_counts(batch))  # (S,)
            total = self._bag(ids, batch.offsets, share) + self._bag(
                batch.subwords, batch.subword_offsets[batch.offsets], sub_share
            )
        if batch.ngrams is not None:
            total = total + self._bag(batch.ngram_bags, batch.ngram_offsets)
        return total

    def _dropped_sum(self, batch: Batch, ids: torch.Tensor) -> torch.Tensor:
        """The same sum with dropout on every word and n-gram vector (training with model.dropout > 0),
        which needs the vectors one by one."""
        B = batch.size
        words = self.dropout(embed_words(self.embedding, batch, 0.0, ids))  # (N, D)
        total = words.new_zeros(B, words.shape[1]).index_add(0, batch.row_of, words)
        if batch.ngrams is not None:
            gram_rows = torch.repeat_interleave(torch.arange(B, device=ids.device), batch.ngram_counts)
            total = total.index_add(0, gram_rows, self.dropout(self.embedding(batch.ngram_bags)))
        return total

    def token_scores(self, batch: Batch, ids: torch.Tensor) -> torch.Tensor:
        """(N, C) each token's evidence: its own vector's score plus 1/n of each n-gram it is in.

        With gradients the vectors are looked up and scored by `token_head`. Without, every
        feature's score E @ W.T is looked up instead (C numbers a look-up, not D): the head is
        linear, so scoring the vectors and averaging the scores are the same. A character encoder's
        vector and the lexicon valences (read by the head's last columns) are scored with the word's
        own vector."""
        D, extra = self.embedding.embedding_dim, self.extra_columns(batch)  # (N, H + K) or None
        if torch.is_grad_enabled():
            table, sparse = self.embedding.weight, self.embedding.sparse
            # n-gram vectors have no characters or valences: zeros in those columns
            score = self.token_head if extra is None else lambda v: self.token_head(F.pad(v, (0, extra.shape[1])))
        else:
            table, score, sparse = self.embedding.weight @ self.token_head.weight[:, :D].T, nn.Identity(), False
        vectors = F.embedding(ids, table, padding_idx=0, sparse=sparse)  # (N, D), or (N, C) from the score table
        if batch.subwords is not None:  # a word's vector is the mean of its own and its character n-grams'
            sub = F.embedding_bag(batch.subwords, table, batch.subword_offsets, mode="sum", sparse=sparse)
            vectors = (vectors + sub) / (1 + subword_counts(batch)).unsqueeze(1).float()
        if extra is not None and torch.is_grad_enabled():
            scores = self.token_head(torch.cat([vectors, extra], dim=-1))
        else:
            scores = score(vectors)
            if extra is not None:
                scores = scores + F.linear(extra, self.token_head.weight[:, D:])
        if batch.ngrams is not None:
            grams = batch.ngrams  # (N, K): the n-gram of length k + 2 starting at each token
            gram_scores = score(F.embedding(grams, table, padding_idx=0, sparse=sparse))  # (N, K, C)
            starts = torch.arange(len(grams), device=grams.device)
            for k in range(grams.shape[1]):
                n = k + 2
                present = grams[:, k] != 0  # an n-gram never runs past its row
                share = gram_scores[present, k] / n
                for offset in range(n):
                    scores = scores.index_add(0, starts[present] + offset, share)
        return scores

    def padded_inputs(self):
        return super().padded_inputs() | {"ngrams"}

    def padded_scores(self, x, lengths, mask, inputs):
        """The same sums as `scores`, over the padded grid: hashed word n-grams (B, T, K) in `inputs`."""
        ngrams = inputs.get("ngrams")
        D = self.embedding.embedding_dim
        W = self.token_head.weight  # (C, D + char columns)
        units = lengths.to(x.dtype)
        total = x.sum(1)  # (B, D + H): padding rows are zero vectors
        tokens = x @ W.T  # (B, T, C)
        if ngrams is not None:
            present = (ngrams != 0).to(x.dtype)  # (B, T, K)
            grams = F.embedding(ngrams, self.embedding.weight) * present.unsqueeze(-1)  # (B, T, K, D), zero where none
            total = total + F.pad(grams.sum((1, 2)), (0, total.shape[1] - D))
            units = units + present.sum((1, 2))
            gram_scores = grams @ W[:, :D].T  # (B, T, K, C)
            T = x.shape[1]
            for k in range(ngrams.shape[2]):
                n = k + 2
                share = gram_scores[:, :, k] / n  # each of its n words gets 1/n of an n-gram's score
                for offset in range(n):
                    tokens = tokens + F.pad(share, (0, 0, offset, 0))[:, :T]
        mean = total / units.unsqueeze(1)
        return mean @ W.T + self.bias, tokens
