"""What a multi-machine run of the compiled engine would take, from one measured on this machine.

Reads the bag-of-words results of `scripts/bench_speed.py --bow-systems ...,textcls-torchrun,...`
(its JSON) and computes, for N machines of P torchrun processes each, over S sentences and E
epochs: the training time from the measured per-process throughput (the torchrun row's sentences x
epochs / its epochs' seconds / 2 processes), and the network traffic of the weight averagings
(train.average_every examples per process between them): each moves the table, the head and
AdaGrad's sums (the weight file's bytes x (1 + 1/D): one sum per table row), and a ring all-reduce
sends and receives 2 (W - 1) / W of that per process, W = N x P. Transfer time at the given link
speed, per machine (its P processes share the link); latency and the averaging's own arithmetic
are left out, so the averaging times are lower bounds. Sentences as long as the benchmark's (20
tokens) and the same table size are assumed: a larger vocabulary or more buckets scale the bytes.

Run:
    python scripts/plan_nodes.py bench/speed_2m_torchrun.json
    python scripts/plan_nodes.py RESULTS.json --machines 4 --processes 2 --sentences 200e6 --epochs 5
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchlib import fmt, print_table, write_json


def plan(result: dict, machines: int, processes: int, sentences: float, epochs: int, every: list[int], gbit: float):
    bow = result["sections"]["bow"]
    row = bow["summary"]["textcls-torchrun"]
    measured_sentences = bow["train_tokens"] / 20  # (the benchmark's sentences are 20 tokens each)
    per_process = measured_sentences * bow["epochs"] / row["epochs_seconds"] / 2  # sentences/s
    dimension = result.get("dimension", 50)
    averaged = row["weights_mb"] * 1e6 * (1 + 1 / dimension)  # bytes: table, head, AdaGrad's sums
    workers = machines * processes
    ring = 2 * (workers - 1) / workers * averaged  # bytes each process sends (and receives) per averaging
    epoch_seconds = sentences / (workers * per_process)
    rows = []
    for n in every:
        per_epoch = sentences / workers / n + 1  # averagings in an epoch (and one at its end)
        link = gbit * 1e9 / 8  # bytes/s
        seconds = per_epoch * ring * processes / link  # a machine's processes share its link
        rows.append(
            {
                "average_every": n,
                "averagings_per_epoch": per_epoch,
                "traffic_gb_per_process": epochs * per_epoch * ring / 1e9,
                "averaging_seconds_per_epoch": seconds,
                "hours": epochs * (epoch_seconds + seconds) / 3600,
            }
        )
    return {
        "per_process_sentences_per_second": per_process,
        "bytes_per_averaging": averaged,
        "ring_bytes_per_process": ring,
        "training_seconds_per_epoch": epoch_seconds,
        "machines": machines,
        "processes": processes,
        "sentences": sentences,
        "epochs": epochs,
        "link_gbit": gbit,
        "rows": rows,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", help="bench_speed.py's JSON with a textcls-torchrun row")
    parser.add_argument("--machines", type=int, default=4)
    parser.add_argument("--processes", type=int, default=2, help="torchrun processes per machine (default: 2)")
    parser.add_argument("--sentences", type=float, default=200e6)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--gbit", type=float, default=10.0, help="each machine's link, Gbit/s (default: 10)")
    parser.add_argument("--every", default="100000,1000000", help="train.average_every values (default: 1e5,1e6)")
    parser.add_argument("--out", help="write the plan as JSON here too")
    args = parser.parse_args(argv)
    result = json.loads(Path(args.results).read_text())
    every = [int(float(x)) for x in args.every.split(",")]
    p = plan(result, args.machines, args.processes, args.sentences, args.epochs, every, args.gbit)
    print_table(
        f"{p['machines']} machines x {p['processes']} processes, {p['sentences']:,.0f} sentences x {p['epochs']} "
        f"epochs: {p['per_process_sentences_per_second']:,.0f} sentences/s per process (measured), "
        f"{p['training_seconds_per_epoch']:,.0f} s of training an epoch; {p['bytes_per_averaging'] / 1e6:.1f} MB "
        f"averaged, {p['ring_bytes_per_process'] / 1e6:.1f} MB sent per process each time; {p['link_gbit']:g} Gbit/s",
        ["average_every", "averagings / epoch", "traffic GB / process", "averaging s / epoch", "hours"],
        [
            [
                f"{r['average_every']:,}",
                fmt(r["averagings_per_epoch"], ",.0f"),
                fmt(r["traffic_gb_per_process"], ",.0f"),
                fmt(r["averaging_seconds_per_epoch"], ",.0f"),
                fmt(r["hours"], ".2f"),
            ]
            for r in p["rows"]
        ],
    )
    if args.out:
        write_json(Path(args.out), p)


if __name__ == "__main__":
    main()
