"""`textcls report`: the pictures and the page, for every task and model type, and the page in a real browser."""

from __future__ import annotations

import json
import os
import random
import re

import pytest
from typer.testing import CliRunner

from conftest import NEGATIVE, POSITIVE, browser_or_skip, synthetic_rows, write_csv
from textcls.cli import app
from textcls.train import train

pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"


def numeric_csvs(tmp_path, groups: bool = False) -> dict:
    """Sentences whose value is the share of positive words (with a group column for ranking)."""
    out = {}
    for split, n, seed in (("train", 120, 1), ("valid", 40, 2)):
        rows = []
        for text, _ in synthetic_rows(n, seed, {"neg": NEGATIVE, "pos": POSITIVE}):
            words = text.split()
            value = sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)
            rows.append([text, str(value)] + ([str(len(rows) % 4)] if groups else []))
        out[split] = write_csv(tmp_path / f"num_{split}.csv", ["text", "label"] + (["group"] if groups else []), rows)
    return out


def pair_csvs(tmp_path) -> dict:
    rng = random.Random(0)
    out = {}
    for split, n in (("train", 120), ("valid", 40)):
        rows = []
        for i in range(n):
            a, b = rng.sample(POSITIVE, 2) if i % 2 else (rng.choice(POSITIVE), rng.choice(NEGATIVE))
            rows.append([f"a {a} film", f"the {b} plot", str(i % 2)])
        out[split] = write_csv(tmp_path / f"pairs_{split}.csv", ["text", "other", "label"], rows)
    return out


CASES = {  # name -> (csvs, config sections, pictures besides learning_curves)
    "classification-bow": (None, {}, ["confusion", "per_class_f1", "reliability", "word_scores"]),
    "classification-lstm": (
        None,
        {"model": {"type": "lstm", "embedding_dim": 8, "hidden_dim": 8}},
        ["confusion", "per_class_f1", "reliability", "word_scores"],
    ),
    "tagging-window": (
        "tagging",
        {"task": "tagging", "data": {"label_column": "tags"}},
        ["confusion", "per_class_f1", "top_confusions"],
    ),
    "tagging-lstm": (
        "tagging",
        {
            "task": "tagging",
            "data": {"label_column": "tags"},
            "model": {"type": "lstm", "embedding_dim": 8, "hidden_dim": 8, "char_encoder": "cnn"},
        },
        ["confusion", "per_class_f1", "top_confusions"],
    ),
    "tagging-entities": (
        "entities",
        {"task": "tagging", "data": {"label_column": "tags"}, "model": {"type": "lstm", "crf": True}},
        ["confusion", "per_class_f1", "top_confusions", "entity_f1", "entity_confusions"],
    ),
    "regression": ("numeric", {"task": "regression"}, ["predictions", "errors"]),
    "ranking": ("grouped", {"task": "ranking", "data": {"group_column": "group"}}, ["scores"]),
    "embedding-classes": (None, {"task": "embedding", "loss": {"name": "triplet"}}, ["embeddings"]),
    "embedding-pairs": (
        "pairs",
        {"task": "embedding", "data": {"text_pair_column": "other"}, "loss": {"name": "contrastive"}},
        ["similarities"],
    ),
}


def csvs_for(kind, tmp_path, tagging_csvs):
    from conftest import ner_rows

    return {
        None: None,
        "tagging": tagging_csvs,
        "entities": {
            split: write_csv(tmp_path / f"ner_{split}.csv", ["text", "tags"], ner_rows(n, seed))
            for split, n, seed in [("train", 120, 1), ("valid", 40, 2)]
        },
        "numeric": numeric_csvs(tmp_path),
        "grouped": numeric_csvs(tmp_path, groups=True),
        "pairs": pair_csvs(tmp_path),
    }[kind]


def trained(make_config, tmp_path, tagging_csvs, case: str):
    kind, sections, _ = CASES[case]
    sections = {"train": {"epochs": 2}, **sections}
    return train(make_config(csvs_for(kind, tmp_path, tagging_csvs), **sections), out=tmp_path / case).run_dir


@pytest.mark.parametrize("case", list(CASES))
def test_report_draws_every_picture_of_the_task(case, make_config, tmp_path, tagging_csvs):
    run = trained(make_config, tmp_path, tagging_csvs, case)
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    folder = run / "report"
    assert result.output.strip() == str(folder / "report.html")
    expected = ["learning_curves"] + CASES[case][2]
    assert sorted(p.stem for p in folder.glob("*.png")) == sorted(expected)
    page = (folder / "report.html").read_text()
    for name in expected:
        data = (folder / f"{name}.png").read_bytes()
        assert data.startswith(PNG) and len(data) > 2000  # a real picture, not an empty canvas
        assert f"<b>{name}</b>" in page
    assert len(re.findall(r"src='data:image/png;base64,", page)) == len(expected)  # embedded: the page stands alone
    final = json.loads((run / "metrics.json").read_text())
    monitor = final["monitor"]
    assert f"<th>{monitor}</th><td>{final['valid'][monitor]:.4g}</td>" in page


def test_report_without_the_training_data_keeps_the_curves(make_config, tmp_path, sentiment_csvs):
    run = train(make_config(train={"epochs": 2}), out=tmp_path / "run").run_dir
    os.remove(sentiment_csvs["valid"])
    out = tmp_path / "elsewhere"
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    assert "No pictures of validation predictions" in page and "valid.csv" in page
    assert [p.name for p in out.glob("*.png")] == ["learning_curves.png"]


def test_report_of_a_folder_that_is_no_run_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "Traceback" not in result.output


def test_report_leaves_out_a_log_line_cut_short_and_refuses_a_damaged_log(make_config, tmp_path):
    run = train(make_config(train={"epochs": 2}), out=tmp_path / "run").run_dir
    with open(run / "metrics.jsonl", "a") as log:
        log.write('{"epoch": 3, "train_lo')  # what a kill while logging epoch 3 leaves
    assert CliRunner().invoke(app, ["report", str(run)]).exit_code == 0
    assert (run / "report" / "learning_curves.png").is_file()
    lines = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text("\n".join(["not json", *lines[1:]]) + "\n")
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "damaged run folder: metrics.jsonl: line 1 is not a JSON object" in result.output


def test_report_opens_cleanly_in_a_browser(make_config, tmp_path, tagging_csvs):
    driver = browser_or_skip()
    try:
        run = trained(make_config, tmp_path, tagging_csvs, "classification-bow")
        assert CliRunner().invoke(app, ["report", str(run)]).exit_code == 0
        driver.get((run / "report" / "report.html").as_uri())
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
        )
        assert len(images) == 5 and all(complete and width > 0 for _, complete, width in images), images
        text = driver.find_element("tag name", "body").text
        final = json.loads((run / "metrics.json").read_text())
        for key in ("accuracy", "macro_f1", "ece"):
            assert f"{key} {final['valid'][key]:.4g}" in text
        driver.save_screenshot(str(run / "report" / "screenshot.png"))
        assert (run / "report" / "screenshot.png").read_bytes().startswith(PNG)
    finally:
        driver.quit()
