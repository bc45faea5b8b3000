"""Model outputs: shapes, padding invariance, and the bag of words' token-score decomposition."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from conftest import bow_head, collate
from textcls.config import model_config
from textcls.data import Example, Tokenizer
from textcls.features import Featurizer
from textcls.models import build_model
from textcls.models.bow.bag import BagOfWords
from textcls.models.lstm.network import LSTMModel
from textcls.tasks import TASKS, get_task
from textcls.vocab import Vocabulary

SHORT = "a good film".split()
LONG = "the plot was dull but the acting was really superb and moving".split()
WORDS = sorted(set(SHORT + LONG + ["Some", "3", "."]))


def featurizer(task="classification", labels=("neg", "pos"), **model) -> Featurizer:
    cfg = model_config(embedding_dim=8, hidden_dim=6, buckets=97, **model)
    tokenizer = Tokenizer(whitespace=task == "tagging")
    return Featurizer(get_task(task), cfg, tokenizer, Vocabulary.build([WORDS]), list(labels))


def make_model(fz: Featurizer, task: str, outputs: int, **kw):
    torch.manual_seed(0)
    model = build_model(fz.model, get_task(task), fz.num_features, outputs, **kw)
    model.eval()
    return model


def batch_of(fz: Featurizer, *sentences: list[str]):
    items = fz.encode_all([Example(list(s), None, i + 1) for i, s in enumerate(sentences)])
    return collate(items, fz.task)


MODEL_CONFIGS = [
    pytest.param({"type": "bow"}, id="bow"),
    pytest.param({"type": "bow", "word_ngrams": 3}, id="bow-ngrams"),
    pytest.param({"type": "bow", "char_ngrams": (2, 3)}, id="bow-chars"),
    pytest.param({"type": "lstm"}, id="lstm-attention"),
    pytest.param({"type": "lstm", "pooling": "mean", "bidirectional": False, "num_layers": 2}, id="lstm-mean"),
    pytest.param({"type": "lstm", "char_ngrams": (3, 3)}, id="lstm-chars"),
    pytest.param({"type": "bow", "word_ngrams": 2, "char_encoder": "cnn"}, id="bow-char-cnn"),
    pytest.param({"type": "lstm", "char_encoder": "lstm", "char_hidden": 6}, id="lstm-char-lstm"),
]


@pytest.mark.parametrize("model_cfg", MODEL_CONFIGS)
@pytest.mark.parametrize("outputs", [1, 3])
def test_sentence_model_shapes(model_cfg, outputs):
    fz = featurizer(**model_cfg)
    model = make_model(fz, "classification", outputs)
    batch = batch_of(fz, SHORT, LONG, ["film"])
    out = model(batch)
    assert out.sentence.shape == (3, outputs)
    assert out.tokens.shape == (3, len(LONG), outputs)
    assert torch.isfinite(out.sentence).all() and torch.isfinite(out.tokens).all()


@pytest.mark.parametrize("model_type", ["bow", "lstm"])
def test_tagging_model_shapes(model_type):
    fz = featurizer("tagging", labels=("A", "B", "C", "D"), type=model_type)
    model = make_model(fz, "tagging", 4)
    out = model(batch_of(fz, ["Some", "3", "."], LONG))
    assert out.sentence is None
    assert out.tokens.shape == (2, len(LONG), 4)


def test_build_model_picks_the_classes():
    fz = featurizer(type="bow")
    assert isinstance(build_model(fz.model, TASKS["classification"], fz.num_features, 2), BagOfWords)
    fz = featurizer(type="lstm")
    assert isinstance(build_model(fz.model, TASKS["regression"], fz.num_features, 1), LSTMModel)


@pytest.mark.parametrize("model_cfg", MODEL_CONFIGS)
@pytest.mark.parametrize("outputs", [1, 3])
def test_padding_does_not_change_a_sentence(model_cfg, outputs):
    fz = featurizer(**model_cfg)
    model = make_model(fz, "classification", outputs)
    with torch.no_grad():
        alone = model(batch_of(fz, SHORT))
        batched = model(batch_of(fz, LONG, SHORT))  # SHORT is padded to LONG's length
        long_alone = model(batch_of(fz, LONG))
    n = len(SHORT)
    torch.testing.assert_close(batched.sentence[1], alone.sentence[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched.tokens[1, :n], alone.tokens[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched.sentence[0], long_alone.sentence[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("model_type", ["bow", "lstm"])
@pytest.mark.parametrize("char_encoder", ["none", "cnn", "lstm"])
def test_padding_does_not_change_tags(model_type, char_encoder):
    fz = featurizer(
        "tagging",
        labels=("A", "B", "C"),
        type=model_type,
        char_encoder=char_encoder,
        char_hidden=6,
        **({"window": 2} if model_type == "bow" else {}),
    )
    model = make_model(fz, "tagging", 3)
    short = ["Some", "3", "."]
    with torch.no_grad():
        alone = model(batch_of(fz, short)).tokens[0]
        batched = model(batch_of(fz, LONG, short)).tokens[1, : len(short)]
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("outputs", [1, 3])
def test_bow_token_scores_are_embedding_rows_times_classifier(outputs):
    fz = featurizer(type="bow")
    model = make_model(fz, "classification", outputs)
    with torch.no_grad():
        W, b = bow_head(dict(model.named_parameters()))
        b.copy_(torch.linspace(-0.7, 0.9, outputs))  # a bias that matters
        batch = batch_of(fz, LONG, SHORT)
        out = model(batch)
        E = model.embedding.weight
    for row, sentence in enumerate([LONG, SHORT]):
        ids = torch.tensor([fz.vocab.stoi[w] for w in sentence])
        token_scores = E[ids] @ W.T  # (T, C) by hand
        torch.testing.assert_close(out.tokens[row, : len(sentence)], token_scores, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(out.sentence[row], token_scores.mean(0) + b, atol=1e-6, rtol=1e-5)
        # the same as fastText's "average the word vectors, then classify"
        torch.testing.assert_close(out.sentence[row], E[ids].mean(0) @ W.T + b, atol=1e-6, rtol=1e-5)
    assert torch.all(out.tokens[1, len(SHORT) :] == 0)  # padding carries no evidence


def test_bow_with_word_ngrams_averages_words_and_ngrams():
    """fastText -wordNgrams 2: the sentence vector is the mean of the word and bigram vectors."""
    fz = featurizer(type="bow", word_ngrams=2)
    model = make_model(fz, "classification", 2)
    sentence = LONG
    batch = batch_of(fz, sentence)
    with torch.no_grad():
        out = model(batch)
        E, (W, b) = model.embedding.weight, bow_head(dict(model.named_parameters()))
        words = [fz.vocab.stoi[w] for w in sentence]
        bigrams = batch.ngrams[:, 0].tolist()  # the bigram starting at each word; 0 = none (the last word)
        assert bigrams[-1] == 0 and all(i >= len(fz.vocab) for i in bigrams[:-1])
        units = E[torch.tensor(words + bigrams[:-1])]  # T words + (T - 1) bigrams
        expected = units.mean(0) @ W.T + b
    torch.testing.assert_close(out.sentence[0], expected, atol=1e-6, rtol=1e-5)
    # the token scores share out all the evidence: their sum is the sum over words and bigrams
    torch.testing.assert_close(out.tokens[0].sum(0), units.sum(0) @ W.T, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("model_cfg", MODEL_CONFIGS)
def test_sentence_embedding_is_the_vector_the_head_reads(model_cfg):
    """ModelOutput.embedding: (B, D) per sentence, and the last layer applied to it gives the
    sentence logits; each row's embedding does not depend on the other rows of its batch."""
    fz = featurizer(**model_cfg)
    model = make_model(fz, "classification", 3)
    with torch.no_grad():
        out = model(batch_of(fz, SHORT, LONG, ["film"]))
        alone = model(batch_of(fz, ["film"])).embedding[0]
    params = dict(model.named_parameters())
    W = params["token_head.weight"]
    b = params["bias"] if "bias" in params else params["token_head.bias"]
    assert out.embedding.shape == (3, W.shape[1])
    torch.testing.assert_close(out.embedding @ W.T + b, out.sentence, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.embedding[2], alone, atol=1e-5, rtol=1e-5)


def test_bow_sentence_embedding_is_the_mean_word_vector():
    fz = featurizer(type="bow")
    model = make_model(fz, "classification", 2)
    with torch.no_grad():
        out = model(batch_of(fz, LONG, SHORT))
        E = model.embedding.weight
    for row, sentence in enumerate([LONG, SHORT]):
        ids = torch.tensor([fz.vocab.stoi[w] for w in sentence])
        torch.testing.assert_close(out.embedding[row], E[ids].mean(0), atol=1e-6, rtol=1e-5)


def test_lstm_sentence_embedding_is_the_mean_hidden_state_with_mean_pooling():
    fz = featurizer(type="lstm", pooling="mean", bidirectional=False)
    model = make_model(fz, "classification", 2)
    with torch.no_grad():
        out = model(batch_of(fz, LONG, SHORT))
        for row, sentence in enumerate([LONG, SHORT]):  # one sentence at a time, no packing or padding
            ids = torch.tensor([[fz.vocab.stoi[w] for w in sentence]])
            states, _ = model.encoder(model.embedding(ids))  # (1, T, H)
            torch.testing.assert_close(out.embedding[row], states[0].mean(0), atol=1e-5, rtol=1e-5)


def test_token_models_have_no_sentence_embedding():
    for model_type in ("bow", "lstm"):
        fz = featurizer("tagging", labels=("A", "B"), type=model_type)
        with torch.no_grad():
            assert make_model(fz, "tagging", 2)(batch_of(fz, SHORT)).embedding is None


def test_log_softmax_option_gives_log_probabilities():
    fz = featurizer(type="lstm")
    model = make_model(fz, "classification", 3, log_softmax=True)
    with torch.no_grad():
        out = model(batch_of(fz, SHORT, LONG))
    torch.testing.assert_close(out.sentence.exp().sum(-1), torch.ones(2))
    raw = make_model(fz, "classification", 3)
    with torch.no_grad():
        logits = raw(batch_of(fz, SHORT, LONG)).sentence
    torch.testing.assert_close(out.sentence, F.log_softmax(logits, -1), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(
    "task, model_type", [("classification", "bow"), ("classification", "lstm"), ("tagging", "bow"), ("tagging", "lstm")]
)
def test_word_dropout_acts_in_training_only_and_trains_the_unknown_word(task, model_type):
    fz = featurizer(task, labels=("A", "B"), type=model_type, char_ngrams=(2, 3), word_dropout=0.5, sparse=False)
    plain = featurizer(task, labels=("A", "B"), type=model_type, char_ngrams=(2, 3), sparse=False)
    batch = batch_of(fz, LONG, SHORT)
    with_dropout, without = make_model(fz, task, 2), make_model(plain, task, 2)
    without.load_state_dict(with_dropout.state_dict())
    # Evaluation: word dropout is off, the two models agree exactly.
    assert torch.equal(with_dropout(batch).tokens, without(batch).tokens)
    # Training: no word in the batch is unknown, yet the unknown word's vector gets a gradient
    # (from the dropped words), and only with word dropout.
    assert not (batch.tokens == Vocabulary.unk_id).any()
    for model, expect_gradient in ((with_dropout, True), (without, False)):
        model.train()
        torch.manual_seed(1)
        model(batch).tokens.sum().backward()
        unk_gradient = model.embedding.weight.grad[Vocabulary.unk_id].abs().sum()
        assert (unk_gradient > 0) == expect_gradient
