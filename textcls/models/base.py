"""What every model shares: the output type, and the embedder that turns a batch's words into vectors.

A model is made of parts: the embedder (here: words, hashed word and character n-grams in one
table, a character encoder, word shapes) -> an encoder (bag of words, window, LSTM: one module
each) -> heads (token scores, and for sentences a pooling of them: see `pooling.py`) -> a
`ModelOutput`.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from textcls.batching import Batch
from textcls.features import NUM_SHAPES
from textcls.models.chars import CharEncoder
from textcls.models.spec import ModelBase
from textcls.vocab import Vocabulary

SHAPE_DIM = 16  # size of a word-shape vector: 7 shapes need few dimensions


Lazy = torch.Tensor | Callable[[], torch.Tensor] | None


class ModelOutput:
    """Sentence scores, and what only some readers need (token scores, the sentence embedding),
    computed when something reads it.

    sentence:    (B, outputs) sentence logits (log-probabilities with loss nll); None for token tasks.
    tokens:      (B, T, outputs) each token's evidence for each class; tag logits for token tasks.
    flat_tokens: (N, outputs) the same for the real tokens only, row after row.
    embedding:   (B, D) the sentence vector the last layer reads (the pooled vector before the
                 head); None for token tasks.
    crf:         a tagger's CRF layer (tag transition scores), None without one.
    """

    def __init__(
        self,
        sentence: torch.Tensor | None,
        tokens: torch.Tensor | None = None,
        batch: Batch | None = None,
        flat_tokens: Callable[[], torch.Tensor] | None = None,
        embedding: Lazy = None,
        crf: nn.Module | None = None,
    ):
        self.batch, self.sentence, self.crf = batch, sentence, crf
        self._tokens, self._flat, self._flat_fn = tokens, None, flat_tokens
        self._embedding = embedding

    @property
    def flat_tokens(self) -> torch.Tensor:
        if self._flat is None:
            self._flat = self._flat_fn() if self._flat_fn is not None else self.batch.unpad(self._tokens)
        return self._flat

    @property
    def tokens(self) -> torch.Tensor:
        if self._tokens is None:
            self._tokens = self.batch.pad(self.flat_tokens)
        return self._tokens

    @property
    def embedding(self) -> torch.Tensor | None:
        if callable(self._embedding):
            self._embedding = self._embedding()
        return self._embedding

    def normalize_embedding(self) -> None:
        """The embedding, once read, is L2-normalised (unit length)."""
        raw = self._embedding
        if raw is not None:
            self._embedding = lambda: F.normalize(raw() if callable(raw) else raw, dim=-1)


class TextModel(nn.Module):
    """The embedder every model starts from, and the log-softmax output that loss `nll` needs.

    Subclasses add their encoder and heads after calling this constructor (parameters are created
    in that order, so the same seed gives the same initial weights) and implement `scores`.
    The log-softmax is part of the model (fixed when it is built), so NLL always sees
    log-probabilities. Token scores stay raw logits: they are what rationale supervision trains.
    """

    def __init__(self, cfg: ModelBase, num_features: int, log_softmax: bool = False, shapes: bool = False):
        super().__init__()
        self.log_softmax, self.normalize = log_softmax, cfg.normalize
        self.embedding = nn.Embedding(num_features, cfg.embedding_dim, padding_idx=0, sparse=cfg.sparse)
        self.shape_embedding = nn.Embedding(NUM_SHAPES, SHAPE_DIM, padding_idx=0) if shapes else None
        self.char_encoder = CharEncoder(cfg) if cfg.char_encoder != "none" else None
        chars = cfg.char_hidden if self.char_encoder is not None else 0
        self.lexicon_inputs = cfg.lexicon_inputs()
        # width of `embed`'s vectors
        self.input_dim = cfg.embedding_dim + chars + (SHAPE_DIM if shapes else 0) + self.lexicon_inputs
        self.dropout = nn.Dropout(cfg.dropout)
        self.word_dropout = cfg.word_dropout

    def freeze_rows(self, rows: torch.Tensor) -> None:
        """Embedding rows where `rows` (num_features,) is True get no gradient (pretrained vectors kept)."""
        frozen = rows.to(self.embedding.weight.device)

        def drop_frozen(grad: torch.Tensor) -> torch.Tensor:
            if grad.is_sparse:
                grad = grad.coalesce()
                keep = ~frozen[grad.indices()[0]]
                return torch.sparse_coo_tensor(
                    grad.indices()[:, keep], grad.values()[keep], grad.shape, is_coalesced=True, check_invariants=False
                )
            return grad.masked_fill(frozen.unsqueeze(1), 0.0)

        self.embedding.weight.register_hook(drop_frozen)

    def embed(self, batch: Batch) -> torch.Tensor:
        """(N, input_dim) each token's vector: its word (with character n-grams), its characters'
        vector, its shape, then its lexicon valences."""
        x = embed_words(self.embedding, batch, self.word_dropout if self.training else 0.0)  # (N, D)
        if self.char_encoder is not None:
            x = torch.cat([x, self.char_encoder.words(batch)], dim=-1)  # (N, D + char_hidden)
        if self.shape_embedding is not None:
            x = torch.cat([x, self.shape_embedding(batch.shapes)], dim=-1)  # (N, D + SHAPE_DIM)
        if self.lexicon_inputs:
            x = torch.cat([x, batch.lexicon.to(x.dtype)], dim=-1)  # (N, ... + K) valences, as they are
        return x

    def scores(self, batch: Batch) -> ModelOutput:
        raise NotImplementedError

    # --- the ONNX export (textcls/export.py) reads padded grids: B rows of T tokens ----------------

    def padded_inputs(self) -> set[str]:
        """The padded inputs it reads when exported, besides ids, lengths and (with character
        n-grams) subwords: shapes, chars and lexicon when it has those parts."""
        parts = [("shapes", self.shape_embedding), ("chars", self.char_encoder)]
        return {name for name, part in parts if part is not None} | ({"lexicon"} if self.lexicon_inputs else set())

    def padded_scores(
        self, x: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor, inputs: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Its forward on a padded grid, for the export: x (B, T, input_dim) each token's vector as
        `embed` makes it (zeros on padding), lengths (B,), mask (B, T) True on real tokens, and the
        padded inputs. Returns the sentence logits (B, C) (None for a token model) and the token
        scores (B, T, C), before any log-softmax. A model without one cannot be exported."""
        raise NotImplementedError(f"{type(self).__name__} has no padded forward for ONNX")

    def forward(self, batch: Batch) -> ModelOutput:
        output = self.scores(batch)
        if self.normalize:
            output.normalize_embedding()
        if self.log_softmax:
            if output.sentence is not None:
                output.sentence = F.log_softmax(output.sentence, dim=-1)
            else:
                output = ModelOutput(None, F.log_softmax(output.tokens, dim=-1), batch, crf=output.crf)
        return output


def drop_words(ids: torch.Tensor, share: float) -> torch.Tensor:
    """Training only: that share of words read as the unknown word (their n-grams kept), so the
    unknown word's vector gets trained and the model learns to read spelling."""
    if share <= 0:
        return ids
    return ids.masked_fill(torch.rand(ids.shape, device=ids.device) < share, Vocabulary.unk_id)


def subword_counts(batch: Batch) -> torch.Tensor:
    """(N,) how many character n-grams each token has."""
    ends = torch.cat([batch.subword_offsets[1:], batch.subword_offsets.new_tensor([batch.subwords.numel()])])
    return ends - batch.subword_offsets


def embed_words(
    embedding: nn.Embedding, batch: Batch, word_dropout: float = 0.0, ids: torch.Tensor | None = None
) -> torch.Tensor:
    """(N, D) word vectors: the word's own vector averaged with its character n-grams' (fastText's
    subword scheme), so unknown words still get a vector from their spelling. `ids` replaces the
    batch's word ids (already word-dropped)."""
    words = embedding(drop_words(batch.ids if ids is None else ids, word_dropout))
    if batch.subwords is None:
        return words
    sub = F.embedding_bag(
        batch.subwords, embedding.weight, batch.subword_offsets, mode="sum", sparse=embedding.sparse
    )  # (N, D); no id here is 0 (padding)
    return (words + sub) / (1 + subword_counts(batch)).unsqueeze(1).to(words.dtype)
