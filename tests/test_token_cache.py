"""The token cache (textcls/token_cache.py): a second run maps what the first encoded and trains
the same model as a run without the cache; another file or setting is another entry; a damaged or
half-built entry is never read; concurrent runs build an entry once; `textcls prepare`."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from typer.testing import CliRunner

from conftest import checkpoint_weights
from textcls import token_cache
from textcls.cli import app
from textcls.train import prepare, train


class Notes:
    def __init__(self):
        self.notes = []

    def start_epoch(self, *a): ...
    def step(self, *a): ...
    def end_epoch(self, record): ...

    def note(self, text):
        self.notes.append(text)


def _with_cache(config, cache):
    return config.model_copy(update={"data": config.data.model_copy(update={"cache": str(cache)})})


def run(config, out: Path) -> tuple[Path, list[str]]:
    reporter = Notes()
    result = train(config, out=out, reporter=reporter)
    return result.run_dir, [n for n in reporter.notes if n.startswith("token cache: ")]


def same_run(a: Path, b: Path) -> None:
    assert json.loads((a / "metrics.json").read_text()) == json.loads((b / "metrics.json").read_text())
    wa, wb = load_file(str(checkpoint_weights(a))), load_file(str(checkpoint_weights(b)))
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


@pytest.fixture
def config(make_config, tmp_path):
    return _with_cache(make_config(model={"word_ngrams": 2, "buckets": 101}, train={"epochs": 2}), tmp_path / "cache")


def test_a_second_run_maps_the_cache_and_trains_what_a_run_without_it_trains(config, tmp_path):
    first, notes = run(config, tmp_path / "first")
    assert notes and notes[0].startswith("token cache: wrote ")
    second, notes = run(config, tmp_path / "second")
    assert notes and notes[0].startswith("token cache: read ")
    plain, notes = run(_with_cache(config, "off"), tmp_path / "plain")
    assert notes == [] and not (tmp_path / "runs" / ".cache").exists()
    same_run(first, plain)
    same_run(second, plain)
    entry, built = prepare(config)
    assert not built and isinstance(entry.splits["train"].ids, np.memmap)  # file-backed pages, not the process's


def test_another_file_or_setting_is_another_entry(config, tmp_path):
    prepare(config)
    train_csv = Path(config.data.train)
    train_csv.write_text(train_csv.read_text() + "an extra good film,pos\n")
    _, built = prepare(config)
    other = config.model_copy(update={"model": config.model.model_copy(update={"buckets": 103})})
    _, built_other = prepare(other)
    assert built and built_other
    assert len([p for p in (tmp_path / "cache").iterdir() if p.is_dir()]) == 3


@pytest.mark.parametrize("damage", ["truncated array", "no manifest", "manifest lies"])
def test_a_damaged_entry_is_built_again_never_read(config, tmp_path, damage):
    entry, _ = prepare(config)
    reference = {k: np.array(v) for k, v in vars(entry.splits["train"]).items() if isinstance(v, np.ndarray)}
    if damage == "truncated array":
        path = entry.path / "train.ids.bin"
        path.write_bytes(path.read_bytes()[:-8])
    elif damage == "no manifest":
        (entry.path / "manifest.json").unlink()
    else:
        manifest = json.loads((entry.path / "manifest.json").read_text())
        manifest["arrays"]["train.ids"]["shape"] = [3]
        (entry.path / "manifest.json").write_text(json.dumps(manifest))
    again, built = prepare(config)
    assert built
    for name, array in reference.items():
        np.testing.assert_array_equal(getattr(again.splits["train"], name), array)


def test_a_build_that_dies_leaves_no_entry_and_the_next_one_cleans_up(config, tmp_path, monkeypatch):
    real_finish = token_cache.EntryWriter.finish

    def die_halfway(writer, vocab, labels):
        real_finish(writer, vocab, labels)
        (writer.folder / "manifest.json").unlink()  # as if killed before the last file
        raise KeyboardInterrupt

    monkeypatch.setattr(token_cache.EntryWriter, "finish", die_halfway)
    with pytest.raises(KeyboardInterrupt):
        prepare(config)
    cache = tmp_path / "cache"
    assert [p.name for p in cache.iterdir() if p.is_dir() and ".tmp-" not in p.name] == []
    monkeypatch.undo()
    entry, built = prepare(config)
    assert built and not list(cache.glob("*.tmp-*"))


def _prepare_in_process(config, barrier, results) -> None:
    barrier.wait()
    results.put(prepare(config)[1])


def test_runs_started_together_build_the_entry_once(config):
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(3), context.Queue()
    workers = [context.Process(target=_prepare_in_process, args=(config, barrier, results)) for _ in range(3)]
    for worker in workers:
        worker.start()
    built = sorted(results.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join()
    assert built == [False, False, True]


def test_auto_is_textcls_cache_else_beside_the_run_folders(config, tmp_path, monkeypatch):
    auto = _with_cache(config, "auto")
    monkeypatch.delenv("TEXTCLS_CACHE", raising=False)
    assert token_cache.cache_root(auto) == Path(config.output.dir) / ".cache"
    monkeypatch.setenv("TEXTCLS_CACHE", str(tmp_path / "elsewhere"))
    entry, _ = prepare(auto)
    assert entry.path.parent == tmp_path / "elsewhere"


def test_prepare_says_what_it_wrote(config, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps(config.to_dict()))  # (JSON is YAML)
    runner = CliRunner()
    done = runner.invoke(app, ["prepare", "-c", str(path), "-f", "json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["built"] and Path(result["path"]).is_dir()
    rows = {split: len(Path(getattr(config.data, split)).read_text().splitlines()) - 1 for split in ("train", "valid")}
    assert {split: result["splits"][split]["rows"] for split in rows} == rows
    again = json.loads(runner.invoke(app, ["prepare", "-c", str(path), "-f", "json"]).stdout)
    assert not again["built"] and again["path"] == result["path"]
    off = runner.invoke(app, ["prepare", "-c", str(path), "--set", "data.cache=off"])
    assert off.exit_code == 1 and "data.cache is off" in off.output and "Traceback" not in off.output


def test_a_cache_folder_that_cannot_be_used_is_one_line(config, tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps(_with_cache(config, blocker / "cache").to_dict()))
    done = CliRunner().invoke(app, ["prepare", "-c", str(path)])
    assert done.exit_code == 1 and "Traceback" not in done.output
    assert f"{blocker / 'cache'}: cannot keep the token cache there" in done.output
    assert "set data.cache to another folder, or off" in done.output


def test_an_unusable_auto_cache_is_a_note_and_the_run_goes_on(config, tmp_path, monkeypatch):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TEXTCLS_CACHE", str(blocker / "cache"))
    reporter = Notes()
    result = train(_with_cache(config, "auto"), out=tmp_path / "run", reporter=reporter)
    assert result.metrics["valid"]["accuracy"] >= 0
    assert any("cannot keep the token cache there" in n and "reads its CSVs without it" in n for n in reporter.notes)


def test_prepare_refuses_what_the_cache_does_not_serve(config):
    from textcls.errors import ConfigError

    faithful = config.model_copy(update={"train": config.train.model_copy(update={"faithfulness": True})})
    with pytest.raises(ConfigError, match="the token cache does not serve them"):
        prepare(faithful)
