"""The character encoder: each word's vector comes from its own characters, whatever the batch."""

from __future__ import annotations

import pytest
import torch

from conftest import collate
from textcls.config import model_config
from textcls.data import Example, Tokenizer
from textcls.features import CHAR_BUCKETS, Featurizer, char_ids
from textcls.models import build_model
from textcls.tasks import get_task
from textcls.vocab import Vocabulary

KNOWN = ["the", "cat", "sat", "on", "mat"]


def setup(char_encoder: str, model_type: str = "lstm", task: str = "tagging", char_hidden: int = 6):
    cfg = model_config(
        type=model_type,
        embedding_dim=6,
        hidden_dim=5,
        char_encoder=char_encoder,
        char_dim=4,
        char_hidden=char_hidden,
        char_max_length=8,
        sparse=False,
    )
    fz = Featurizer(
        get_task(task), cfg, Tokenizer(whitespace=True, lowercase=False), Vocabulary.build([KNOWN]), ["A", "B"]
    )
    torch.manual_seed(0)
    model = build_model(cfg, get_task(task), fz.num_features, 2).eval()
    return fz, model


def words_of(fz, model, *sentences):
    """(N, char_hidden) the char encoder's vector of every token, row after row."""
    batch = collate(fz.encode_all([Example(s.split(), None, i + 1) for i, s in enumerate(sentences)]), fz.task)
    with torch.no_grad():
        return model.char_encoder.words(batch)


def test_char_ids_keep_case_and_both_ends_of_long_words():
    assert char_ids("Ab", 8) == [1 + ord("A"), 1 + ord("b")]
    assert char_ids("abcdefghij", 4) == char_ids("abij", 4)  # first and last halves
    assert char_ids("\u4e2d", 8) == [1 + 0x4E2D % (CHAR_BUCKETS - 1)]


@pytest.mark.parametrize("char_encoder", ["cnn", "lstm"])
def test_a_words_vector_does_not_depend_on_its_batch(char_encoder):
    fz, model = setup(char_encoder)
    alone = words_of(fz, model, "cat")
    beside_long_words = words_of(
        fz, model, "extraordinarily unbelievable", "the cat"
    )  # "cat" is padded to 8 characters
    torch.testing.assert_close(beside_long_words[3], alone[0], atol=1e-6, rtol=1e-6)
    truncated = words_of(fz, model, "extraordinarily")
    torch.testing.assert_close(beside_long_words[0], truncated[0], atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("char_encoder", ["cnn", "lstm"])
def test_unknown_words_get_distinct_vectors_from_their_spelling(char_encoder):
    fz, model = setup(char_encoder)
    batch = collate(fz.encode_all([Example("running Jumped 1984".split(), None, 1)]), fz.task)
    assert (batch.ids == Vocabulary.unk_id).all()  # none of the three is in the vocabulary
    with torch.no_grad():
        vectors = model.embed(batch)  # (3, input_dim)
    assert torch.cdist(vectors, vectors)[torch.triu_indices(3, 3, 1).unbind()].min() > 1e-3
    _, plain = setup("none")
    with torch.no_grad():
        words_only = plain.embed(batch)[:, :6]
    torch.testing.assert_close(words_only[0], words_only[1])  # without it: one unknown-word vector for all


def test_cnn_is_max_over_the_words_character_windows():
    fz, model = setup("cnn")
    enc = model.char_encoder
    word = "mat"
    ids = torch.tensor(char_ids(word, 8))
    x = enc.embedding.weight[ids]  # (3, char_dim)
    padded = torch.cat([torch.zeros(1, 4), x, torch.zeros(1, 4)])  # one zero character beyond each end
    W, b = enc.cnn.weight, enc.cnn.bias  # (H, char_dim, 3), (H,)
    windows = torch.stack([(W * padded[i : i + 3].T).sum((1, 2)) + b for i in range(len(word))])  # (3, H)
    torch.testing.assert_close(words_of(fz, model, word)[0], windows.max(0).values, atol=1e-6, rtol=1e-5)


def test_lstm_is_the_last_state_of_each_direction():
    fz, model = setup("lstm")
    lstm = model.char_encoder.lstm
    x = model.char_encoder.embedding.weight[torch.tensor(char_ids("sat", 8))].detach()
    with torch.no_grad():
        forward, _ = lstm(x.unsqueeze(0))  # (1, 3, 2 * H/2): unpadded, so no packing needed
    expected = torch.cat([forward[0, -1, :3], forward[0, 0, 3:]])
    torch.testing.assert_close(words_of(fz, model, "sat")[0], expected, atol=1e-6, rtol=1e-5)


def test_bow_sentence_score_is_the_mean_of_token_scores_with_characters():
    fz, model = setup("cnn", model_type="bow", task="classification")
    batch = collate(
        fz.encode_all([Example("the cat sat".split(), None, 1), Example("Zebras".split(), None, 2)]), fz.task
    )
    with torch.no_grad():
        out = model(batch)
        no_grad_tokens = out.tokens
    with torch.enable_grad():
        grad_tokens = model(batch).tokens.detach()  # the other code path (vectors scored by the head)
    torch.testing.assert_close(no_grad_tokens, grad_tokens, atol=1e-6, rtol=1e-5)
    means = torch.stack([no_grad_tokens[0, :3].mean(0), no_grad_tokens[1, :1].mean(0)])
    torch.testing.assert_close(out.sentence, means + model.bias, atol=1e-6, rtol=1e-5)


def test_lstm_char_encoder_needs_an_even_size():
    from textcls.errors import ConfigError

    with pytest.raises(ConfigError, match="char_hidden must be even"):
        model_config(type="lstm", char_encoder="lstm", char_hidden=7)


# --- Reproducibility with several threads --------------------------------------------------------


@pytest.fixture
def two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def test_gradients_of_repeated_words_are_summed_in_the_same_order_every_time(two_threads):
    """Each token takes its word's vector, so the gradients of a word's repeats are summed back onto
    it. Plain indexing's backward (index_put_ with accumulate) sums them, with two threads and a
    gradient of 32768 values or more, by atomic adds in an order that varies from run to run."""
    fz, model = setup("cnn", char_hidden=64)
    batch = collate(
        fz.encode_all([Example(KNOWN * 2, None, i + 1) for i in range(200)]), fz.task
    )  # 2000 tokens, 5 words
    out_grad = torch.randn(2000, 64, generator=torch.Generator().manual_seed(0))  # 128000 values, not exact sums
    encoder = model.char_encoder

    def gradients() -> list[torch.Tensor]:
        return torch.autograd.grad(encoder.words(batch), list(encoder.parameters()), out_grad)

    first = gradients()
    for _ in range(100):  # (one sum in a different order is enough: it shows within a few tries)
        assert all(torch.equal(g, f) for g, f in zip(gradients(), first))


def test_char_cnn_tagger_trains_to_the_same_weights_with_two_threads(make_config, tagging_csvs, tmp_path):
    """Same seed, data and config, two threads: bit-identical weights (the promise of reproducible runs)."""
    from safetensors.torch import load_file

    from conftest import checkpoint_weights
    from textcls.train import train

    config = make_config(
        tagging_csvs,
        task="tagging",
        data={"label_column": "tags"},
        model={"type": "lstm", "char_encoder": "cnn", "char_hidden": 128, "dropout": 0.0},
        train={"epochs": 2, "batch_size": 80, "threads": 2},
    )
    weights = [load_file(checkpoint_weights(train(config, out=tmp_path / f"run{i}").run_dir, "last")) for i in range(3)]
    for other in weights[1:]:
        assert all(torch.equal(other[k], weights[0][k]) for k in weights[0])
