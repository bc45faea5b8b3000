"""What every model type's config holds and declares, without torch.

A model type is a package under textcls/models/: its `__init__.py` holds its config class (a
`ModelBase` subclass: its fields, what it needs from the featurizer, its default search space for
`textcls tune`) and builds its network from the package's other modules, the only ones that import
torch; `models.MODEL_TYPES` names it. Config loading reads these classes and never loads torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from textcls.sections import Section

if TYPE_CHECKING:
    from textcls.models.base import TextModel


class ModelBase(Section):
    """What every model reads: the embedder (words, character n-grams, shapes) and its training noise.
    Each model type adds its own fields; a field its type does not read is an error."""

    type: str  # which model: each subclass fixes it
    embedding_dim: int = Field(100, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    word_dropout: float = Field(0.0, ge=0, lt=1)  # training: share of words read as unknown (their n-grams kept)
    char_ngrams: tuple[int, int] | None = None  # (min, max) hashed character n-grams of each word
    char_encoder: Literal["none", "cnn", "lstm"] = (
        "none"  # a vector from each word's characters, beside its word vector
    )
    char_dim: int = Field(32, ge=1)  # char_encoder: size of a character's vector
    char_hidden: int = Field(
        64, ge=2
    )  # char_encoder: size of the word vector it makes (CNN filters; LSTM: both directions)
    char_max_length: int = Field(20, ge=1)  # char_encoder: characters read per word (longer: its first and last halves)
    buckets: int = Field(200_000, ge=1)  # hash buckets shared by word and character n-grams
    pretrained: str | None = None  # word vectors (GloVe/word2vec text, or .npy + .vocab) for the vocabulary's words
    freeze_pretrained: bool = False  # words given a pretrained vector keep it unchanged
    # all: the vocabulary also takes every word of the vectors file that training lacks, so words unseen
    # in training still have their pretrained vector (the table and checkpoints grow by words x dim)
    pretrained_words: Literal["train", "all"] = "train"
    sparse: bool = True  # sparse embedding gradients (SparseAdam): a step touches only the rows a batch uses
    shape: bool = True  # tagging: a small embedding of each word's shape (case, digits, punctuation)
    # lexicon CSVs (`word,score` or `word,label`): each token's valence in each, plain and after
    # VADER's negation, degree and contrast rules, read as inputs beside its vector (lexicon_features.py)
    lexicon_features: list[str] = []
    normalize: bool = False  # the sentence embedding L2-normalised (task embedding)

    # `textcls tune`'s search space when the config has no `tune:` section: dotted config fields
    # (as --set names them) -> a list of choices, LogRange or Range; what matters most for the type.
    tune_space: ClassVar[dict[str, Any]] = {}

    @model_validator(mode="after")
    def _check_ngrams(self) -> "ModelBase":
        if self.char_ngrams is not None and not 1 <= self.char_ngrams[0] <= self.char_ngrams[1]:
            raise ValueError("char_ngrams must be [min, max] with 1 <= min <= max")
        if self.char_encoder == "lstm" and self.char_hidden % 2:
            raise ValueError("char_hidden must be even with char_encoder lstm (half for each direction)")
        return self

    def lexicon_inputs(self) -> int:
        """Numbers per token from `lexicon_features` (two per file and the negation flag)."""
        from textcls.lexicon_features import num_features  # (not at import: the config stays light)

        return num_features(len(self.lexicon_features))

    def hashed_word_ngrams(self) -> int:
        """What the featurizer computes for it: the longest hashed word n-gram the model reads
        (1: none; character n-grams, characters and shapes are the base's fields)."""
        return 1

    def build(self, per_token: bool, num_features: int, outputs: int, log_softmax: bool) -> TextModel:
        """The network (its module is imported here, with torch): a token model when `per_token`
        (tags per word), else a sentence model."""
        raise NotImplementedError
