"""Pretrained word vectors: each format lands in the right rows; bad files are one-line errors."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from conftest import NEGATIVE, POSITIVE, checkpoint_weights
from textcls.cli import app
from textcls.errors import DataError
from textcls.pretrained import load_pretrained, read_vectors, vocabulary_words
from textcls.tasks import TASKS
from textcls.train import train
from textcls.vocab import Vocabulary

VECTORS = {"good": [0.5, -1.0, 2.0], "film": [1.5, 0.25, -0.75], "dull": [-2.0, 0.0, 1.0e-3]}


def write_text(path, vectors=VECTORS, header=False, opener=open):
    with opener(path, "wt", encoding="utf-8") as f:
        if header:
            f.write(f"{len(vectors)} 3\n")
        for word, vector in vectors.items():
            f.write(word + " " + " ".join(repr(v) for v in vector) + "\n")
    return path


@pytest.mark.parametrize("form", ["txt", "vec-header", "gz", "npy"])
def test_vectors_land_in_their_words_rows(tmp_path, form):
    if form == "txt":
        path = write_text(tmp_path / "v.txt")
    elif form == "vec-header":
        path = write_text(tmp_path / "v.vec", header=True)
    elif form == "gz":
        path = write_text(tmp_path / "v.txt.gz", opener=gzip.open)
    else:
        path = tmp_path / "v.npy"
        np.save(path, np.array(list(VECTORS.values()), dtype=np.float32))
        (tmp_path / "v.vocab").write_text("\n".join(VECTORS) + "\n")
    vocab = Vocabulary(["film", "plot", "Good"])  # ids 2, 3, 4; "Good" finds "good" lower-cased
    weight = torch.full((9, 3), 7.0)  # 5 vocabulary rows + 4 hashed n-gram rows
    coverage, rows = load_pretrained(weight, vocab, read_vectors(path, 3, vocabulary_words(vocab)))
    assert (coverage.found, coverage.words) == (2, 3)
    assert rows.tolist() == [False, False, True, False, True, False, False, False, False]
    torch.testing.assert_close(weight[2], torch.tensor(VECTORS["film"]))
    torch.testing.assert_close(weight[4], torch.tensor(VECTORS["good"]))
    assert (weight[[0, 1, 3, 5, 6, 7, 8]] == 7.0).all()  # no vector: left as it was


def test_only_wanted_words_are_kept(tmp_path):
    assert set(read_vectors(write_text(tmp_path / "v.txt"), 3, {"dull", "absent"})) == {"dull"}


@pytest.mark.parametrize(
    "content, expected",
    [
        ("good 0.1 0.2\n", r"v\.txt line 1: vectors have 2 dimensions, model\.embedding_dim is 3"),
        ("", r"v\.txt: no vectors"),
        ("good 1 2 3\nfilm 1 2\n", r"v\.txt line 2: expected a word and 3 numbers"),
        ("good 1 2 3\nfilm 1 x 3\n", r"v\.txt line 2: 'x' is not a number"),
        ("3 3\ngood 1 2 3\nfilm 1 2 3 4\n", r"v\.txt line 3: expected a word and 3 numbers"),
    ],
)
def test_bad_text_files_are_one_line_errors(tmp_path, content, expected):
    path = tmp_path / "v.txt"
    path.write_text(content)
    with pytest.raises(DataError, match=expected) as info:
        read_vectors(path, 3)
    assert "\n" not in str(info.value)


def test_bad_npy_files_are_one_line_errors(tmp_path):
    path = tmp_path / "v.npy"
    np.save(path, np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(DataError, match=r"v\.vocab: word list of v\.npy not found"):
        read_vectors(path, 4)
    (tmp_path / "v.vocab").write_text("a\nb\n")
    with pytest.raises(DataError, match=r"v\.npy: vectors have 4 dimensions, model\.embedding_dim is 3"):
        read_vectors(path, 3)
    (tmp_path / "v.vocab").write_text("a\n")
    with pytest.raises(DataError, match=r"v\.vocab: 1 words for 2 vectors"):
        read_vectors(path, 4)


def test_a_missing_file_names_the_script_that_makes_it(tmp_path):
    with pytest.raises(DataError, match=r"not found \(`python scripts/prepare_glove.py`"):
        read_vectors(tmp_path / "glove.npy", 50)


def pretrained_vectors(tmp_path, dim=16):
    """Random vectors for the sentiment words and a few fillers (not every vocabulary word)."""
    rng = np.random.default_rng(0)
    words = POSITIVE + NEGATIVE
    return write_text(tmp_path / "vectors.txt", {w: rng.normal(size=dim).round(4).tolist() for w in words}), words


def test_training_starts_from_the_vectors_and_frozen_rows_keep_them(tmp_path, make_config):
    path, words = pretrained_vectors(tmp_path)
    expected = {w: v for w, v in read_vectors(path, 16).items()}
    config = make_config(model={"pretrained": str(path), "freeze_pretrained": True})
    result = train(config, tmp_path / "frozen")
    run = result.run_dir
    tokens = json.loads((run / "vocab.json").read_text())["tokens"]
    weight = load_file(str(checkpoint_weights(run, "best")))["embedding.weight"]
    for w in words:
        torch.testing.assert_close(weight[tokens.index(w)], torch.from_numpy(expected[w]))
    info = json.loads((run / "model.json").read_text())
    assert info["pretrained"] == {"found": len(words), "words": len(tokens) - 2, "added": 0}
    # without freezing, training moves them
    moved = train(make_config(model={"pretrained": str(path)}), tmp_path / "free").run_dir
    weight = load_file(str(checkpoint_weights(moved, "best")))["embedding.weight"]
    assert not torch.allclose(weight[tokens.index("good")], torch.from_numpy(expected["good"]))


def test_cli_names_the_file_and_line_and_writes_no_run(tmp_path, make_config):
    import yaml

    bad = tmp_path / "bad.txt"
    bad.write_text("good " + " ".join(["0.1"] * 16) + "\nfilm 0.1\n")
    config_path = tmp_path / "c.yaml"
    config_path.write_text(yaml.safe_dump(make_config(model={"pretrained": str(bad)}).to_dict()))
    result = CliRunner().invoke(app, ["train", "-c", str(config_path), "-o", str(tmp_path / "run")])
    assert result.exit_code != 0
    assert "bad.txt line 2: expected a word and 16 numbers" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_pretrained_words_all_gives_unseen_words_their_vectors(tmp_path, make_config):
    path, words = pretrained_vectors(tmp_path)
    extra = {"marvellous": [0.25] * 16, "dreadful": [-0.5] * 16}  # in the file, never in training
    with open(path, "a") as f:
        for word, vector in extra.items():
            f.write(word + " " + " ".join(map(str, vector)) + "\n")
    config = make_config(model={"pretrained": str(path), "freeze_pretrained": True, "pretrained_words": "all"})
    run = train(config, tmp_path / "all").run_dir
    tokens = json.loads((run / "vocab.json").read_text())["tokens"]
    assert tokens[-2:] == ["marvellous", "dreadful"]  # after the training words, in the file's order
    weight = load_file(str(checkpoint_weights(run, "best")))["embedding.weight"]
    for word, vector in extra.items():
        torch.testing.assert_close(weight[tokens.index(word)], torch.tensor(vector))
    info = json.loads((run / "model.json").read_text())["pretrained"]
    assert info["added"] == 2 and info["words"] == len(tokens) - 4


def test_words_added_from_vectors_still_count_as_unseen_in_tagging(tmp_path):
    from textcls.config import model_config
    from textcls.data import Example, Tokenizer
    from textcls.features import Featurizer

    vocab = Vocabulary(["the", "dog"]).extended(["cat", "dog"])  # "cat" comes from the vectors only
    assert vocab.itos == ["<pad>", "<unk>", "the", "dog", "cat"] and vocab.trained == 4
    assert Vocabulary.from_json(vocab.to_json()).trained == 4
    fz = Featurizer(TASKS["tagging"], model_config(embedding_dim=4), Tokenizer(whitespace=True), vocab, ["A"])
    items = fz.encode_all([Example("the cat saw the dog".split(), None)])
    assert items.unseen.tolist() == [False, True, True, False, False]
