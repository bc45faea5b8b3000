"""What every model shares: the output type, word embedding with character n-grams, log-softmax option."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from textcls.batching import Batch
from textcls.vocab import Vocabulary


@dataclass
class ModelOutput:
    sentence: torch.Tensor | None  # (B, outputs) sentence logits (log-probabilities with loss nll); None for tagging
    tokens: torch.Tensor  # (B, T, outputs) each token's evidence for each class; tag logits for tagging


class TextModel(nn.Module):
    """Subclasses implement `scores`; `forward` adds the log-softmax output that loss `nll` needs.

    The log-softmax is part of the model (fixed when it is built), so NLL always sees log-probabilities.
    Token scores stay raw logits: they are what rationale supervision trains.
    """

    def __init__(self, log_softmax: bool = False):
        super().__init__()
        self.log_softmax = log_softmax

    def scores(self, batch: Batch) -> tuple[torch.Tensor | None, torch.Tensor]:
        raise NotImplementedError

    def forward(self, batch: Batch) -> ModelOutput:
        sentence, tokens = self.scores(batch)
        if self.log_softmax:
            if sentence is not None:
                sentence = F.log_softmax(sentence, dim=-1)
            else:
                tokens = F.log_softmax(tokens, dim=-1)
        return ModelOutput(sentence, tokens)


def embed_words(embedding: nn.Embedding, batch: Batch, word_dropout: float = 0.0) -> torch.Tensor:
    """(B, T, D) word vectors: the word's own vector averaged with its character n-grams' (fastText's
    subword scheme), so unknown words still get a vector from their spelling. Padding gives zeros.

    `word_dropout` (training only) replaces that share of words by the unknown word, keeping their
    n-grams: the unknown word's vector gets trained, and the model learns to read spelling."""
    tokens = batch.tokens
    if word_dropout > 0:
        dropped = (torch.rand(tokens.shape, device=tokens.device) < word_dropout) & batch.mask
        tokens = tokens.masked_fill(dropped, Vocabulary.unk_id)
    words = embedding(tokens)
    if batch.subwords is None:
        return words
    B, T, D = words.shape
    sub = F.embedding_bag(batch.subwords, embedding.weight, batch.subword_offsets, mode="sum", sparse=embedding.sparse)  # (B*T, D)
    ends = torch.cat([batch.subword_offsets[1:], batch.subword_offsets.new_tensor([batch.subwords.numel()])])
    counts = (ends - batch.subword_offsets).view(B, T, 1).to(words.dtype)
    return (words + sub.view(B, T, D)) / (1 + counts)
