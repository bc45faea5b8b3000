"""Bag-of-words models: a fastText-style linear classifier and a window tagger."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from textcls.batching import NUM_SHAPES, Batch
from textcls.config import ModelConfig
from textcls.models.base import TextModel, embed_words


class BagOfWords(TextModel):
    """Sentence logit = mean of the token scores + bias, where a token's score is `token_head`
    (linear, no bias) applied to its vector, plus its share of the hashed word n-grams it belongs to.

    Because the head is linear, this equals fastText's "average the vectors, then classify", and
    each token's score is exactly its evidence for each class.
    """

    def __init__(self, cfg: ModelConfig, num_features: int, outputs: int, log_softmax: bool = False):
        super().__init__(log_softmax)
        self.embedding = nn.Embedding(num_features, cfg.embedding_dim, padding_idx=0, sparse=cfg.sparse)
        nn.init.uniform_(self.embedding.weight, -1 / cfg.embedding_dim, 1 / cfg.embedding_dim)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        self.dropout = nn.Dropout(cfg.dropout)
        self.word_dropout = cfg.word_dropout
        self.token_head = nn.Linear(cfg.embedding_dim, outputs, bias=False)
        self.bias = nn.Parameter(torch.zeros(outputs))

    def scores(self, batch: Batch):
        words = self.dropout(embed_words(self.embedding, batch, self.word_dropout if self.training else 0.0))  # (B, T, D)
        token_scores = self.token_head(words)  # (B, T, C)
        units = batch.mask.sum(1, keepdim=True).to(words.dtype)  # (B, 1) words + n-grams averaged over
        if batch.ngrams is not None:
            grams = batch.ngrams  # (B, T, K): n-gram of length k+2 starting at each position
            gram_scores = self.token_head(self.dropout(self.embedding(grams)))  # (B, T, K, C)
            T = grams.shape[1]
            for k in range(grams.shape[2]):
                n = k + 2
                share = gram_scores[:, :, k] / n  # spread each n-gram's score over its n words
                for offset in range(n):
                    token_scores = token_scores + F.pad(share, (0, 0, offset, 0))[:, :T]
            units = units + (grams != 0).sum((1, 2)).unsqueeze(1).to(words.dtype)
        sentence = token_scores.sum(1) / units + self.bias  # (B, C)
        return sentence, token_scores


class WindowTagger(TextModel):
    """Tags each token from the vectors of itself and `window` neighbours on each side (plus word
    shapes), through one hidden layer. Fast, and padding cannot reach a real token."""

    def __init__(self, cfg: ModelConfig, num_features: int, outputs: int, log_softmax: bool = False):
        super().__init__(log_softmax)
        self.window = cfg.window
        self.embedding = nn.Embedding(num_features, cfg.embedding_dim, padding_idx=0, sparse=cfg.sparse)
        self.shape_embedding = nn.Embedding(NUM_SHAPES, 16, padding_idx=0) if cfg.shape else None
        width = cfg.embedding_dim + (16 if cfg.shape else 0)
        self.dropout = nn.Dropout(cfg.dropout)
        self.word_dropout = cfg.word_dropout
        self.encoder = nn.Sequential(nn.Linear((2 * cfg.window + 1) * width, cfg.hidden_dim), nn.ReLU())
        self.token_head = nn.Linear(cfg.hidden_dim, outputs)

    def scores(self, batch: Batch):
        x = embed_words(self.embedding, batch, self.word_dropout if self.training else 0.0)
        if self.shape_embedding is not None:
            x = torch.cat([x, self.shape_embedding(batch.shapes)], dim=-1)  # (B, T, D+16)
        x = self.dropout(x)
        k = self.window
        padded = F.pad(x, (0, 0, k, k))  # zeros beyond both ends, like padding
        windows = torch.cat([padded[:, i : i + x.shape[1]] for i in range(2 * k + 1)], dim=-1)  # (B, T, (2k+1)W)
        return None, self.token_head(self.dropout(self.encoder(windows)))
