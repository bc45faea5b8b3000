"""A token-cache entry built from the CSVs a chunk at a time, so that memory holds one chunk, the
vocabulary's counts and a byte or two per row, never a whole file. Data flows as in
`train.build` (CSV -> examples -> vocabulary -> arrays), in three passes:

1. Each CSV is read and tokenised `TOKENS` tokens at a time (every bad cell fails here, naming its file,
   row and column), and each chunk's Dataset is put aside in the scratch folder.
2. With the validation split drawn (a stratified split needs every training label first), the
   training chunks' words are counted and their labels gathered: the vocabulary and the label set.
3. Each chunk is encoded with them and appended to the entry's arrays.

The entry holds what `Featurizer.encode_all` makes of the whole files (a test compares the two).
No torch here.
"""

from __future__ import annotations

import pickle
from collections import Counter
from itertools import chain
from pathlib import Path

import numpy as np

from textcls.config import Config
from textcls.data import (
    Dataset,
    apply_lexicon,
    check_inputs,
    label_cover,
    lexicon_examples,
    lexicon_part,
    make_tokenizer,
    read_example_chunks,
    read_lexicon,
    resolve_target,
    split_examples,
)
from textcls.features import Featurizer, count_words
from textcls.lexicon_features import read_lexicons
from textcls.tasks import Task
from textcls.token_cache import EntryWriter
from textcls.vocab import Vocabulary

TOKENS = 600_000  # tokens per chunk (about 100 MB at its peak): numpy works in bulk, memory stays flat


class Chunks:
    """A CSV's chunks, put aside as files in `scratch` and read back one at a time. They are pickles
    that this process writes and reads back within one build, in its own scratch folder."""

    def __init__(self, path: str, config: Config, task: Task, scratch: Path, name: str, labels: dict | None = None):
        """Reads `path`; with `labels` (a dict), also numbers each example's label there, in
        `self.label_codes` (what a stratified validation split draws from)."""
        self.files, self.examples, codes = [], 0, []
        tokenizer = make_tokenizer(config.data, task)
        for i, chunk in enumerate(read_example_chunks(path, config.data, task, tokenizer, tokens=TOKENS)):
            file = scratch / f"{name}-{i}.pickle"
            with open(file, "wb") as f:
                pickle.dump(chunk, f, protocol=pickle.HIGHEST_PROTOCOL)
            self.files.append((file, chunk.num_examples))
            self.examples += chunk.num_examples
            if labels is not None:
                codes.append(np.fromiter((labels.setdefault(x, len(labels)) for x in chunk.labels), np.int32))
        self.label_codes = np.concatenate(codes) if codes else None

    def parts(self, chosen: np.ndarray | None = None):
        """Each chunk's Dataset, or with `chosen` ((examples,) bool) the part of it chosen there."""
        first = 0
        for file, examples in self.files:
            with open(file, "rb") as f:
                chunk = pickle.load(f)
            if chosen is not None:
                chunk = chunk.select_examples(np.flatnonzero(chosen[first : first + examples]))
            first += examples
            if len(chunk):
                yield chunk


def build_entry(config: Config, task: Task, writer: EntryWriter, scratch: Path) -> tuple[Vocabulary, list[str]]:
    """Writes the entry of `config`'s data through `writer` (see the module); returns its
    vocabulary and labels."""
    check_inputs(config, task)
    data = config.data
    tokenizer = make_tokenizer(data, task)
    scratch.mkdir(parents=True)
    split = not isinstance(data.valid, str)  # a validation fraction of the training file
    train = Chunks(data.train, config, task, scratch, "train", {} if split and task.stratified_split else None)
    if split:
        valid_examples, _ = split_examples(config, task, train.label_codes, train.examples)
        in_valid = np.zeros(train.examples, dtype=bool)
        in_valid[valid_examples] = True
        train_parts = lambda: train.parts(~in_valid)
        valid_parts, valid_source = lambda: train.parts(in_valid), f"{data.train} (validation split)"
    else:
        valid = Chunks(data.valid, config, task, scratch, "valid")
        train_parts, valid_parts, valid_source = train.parts, valid.parts, data.valid
    test = Chunks(data.test, config, task, scratch, "test") if data.test else None
    lexicon = read_lexicon(data.lexicon, data.lexicon_threshold, data.lowercase) if data.lexicon else {}
    training_lexicon = lexicon_part(lexicon, data.lexicon_holdout)
    words = lexicon_examples(training_lexicon, tokenizer, data.lexicon) if data.lexicon_examples else None

    counts, cover = Counter(), None
    for part in chain(train_parts(), [words] if words is not None else []):
        count_words(part.tokens, tokenizer, counts)
        cover = label_cover(part if cover is None else Dataset.concat(cover, part))
    vocab = Vocabulary.from_counts(counts, data.min_freq, data.max_vocab)
    labels = task.label_set(cover, data.label_column)
    for word, target in lexicon.items():  # a bad lexicon label names the lexicon, not a row
        resolve_target(target, labels, f"{data.lexicon}, word '{word}'")

    featurizer = Featurizer(task, config.model, tokenizer, vocab, labels, read_lexicons(config.model.lexicon_features))
    for part in train_parts():
        apply_lexicon(part, training_lexicon, tokenizer)
        writer.append("train", featurizer.encode(part))
    if words is not None:
        words.labels = np.full(len(words), None, dtype=object)  # no label, as Dataset.concat gives them
        writer.append("train", featurizer.encode(words))
    for name, parts, source in (("valid", valid_parts, valid_source), ("test", test and test.parts, data.test)):
        for part in parts() if parts else ():
            apply_lexicon(part, lexicon, tokenizer)  # evaluation sees every lexicon word
            part.source = source
            writer.append(name, featurizer.encode(part))
    return vocab, labels
