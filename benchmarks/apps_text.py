"""Text: a sequence autoencoder beside what users would pick instead: ``python -m benchmarks.apps_text``.

On the same held-out fortunes lines (the text-fortunes preset's test split):

* compression: aegrad's codec (quantised code + the decoder's probabilities, range-coded)
  against gzip -9, bzip2 -9, xz -9e and zstd -19, each line on its own and all together;
  rates are bytes written; the aegrad stream is decoded and checked to equal its input;
* classification: logistic regression on the codes against TF-IDF + logistic regression;
* reconstruction from z alone (greedy decoding, held-out words of the text-words preset): the
  GRU as it was, with its encoder reading each word backwards, with word dropout, and the
  Transformer variant: exact-match share, per-character accuracy, test cross-entropy;
* gradient through time: the same data with a plain tanh RNN and with a GRU, the ratio of the
  gradient reaching the state 54 characters before a line's end to that at its end, per epoch,
  and whether the vanishing_through_time finding fires.

``--run RUN_DIR`` reuses a trained text-fortunes run (else one is trained); ``--quick`` trains
smaller models for a smoke run. Every number is printed; ``--out FILE`` also writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _train(overrides: dict[str, Any], out: Path, preset: str = "text-fortunes"):
    import aegrad

    cfg = aegrad.load_config(preset=preset, overrides=overrides)
    return aegrad.train(cfg, out=out, report=False)


VARIANTS = {  # name -> overrides of the text-words preset (whose GRU reads each word backwards)
    "gru, forward input": {"model.seq.reverse_input": False},
    "gru, reversed input": {},
    "gru, forward, word dropout 0.25": {"model.seq.reverse_input": False, "model.seq.word_dropout": 0.25},
    "transformer": {"model.seq.cell": "transformer"},
}


def variants(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """Reconstruction from z of each VARIANTS model on the held-out words."""
    from aegrad.apps.text.compress import reconstruction_accuracy
    from aegrad.apps.text.run import open_text_run

    out = {}
    for k, (name, over) in enumerate(VARIANTS.items()):
        if args.quick:
            over = {**over, "data.limit": 2000, "data.test_limit": 500, "train.epochs": 2, "model.seq.hidden": 64}
        run = _train(over, root / f"words-{k}", preset="text-words")
        tr = open_text_run(run.path)
        out[name] = {**reconstruction_accuracy(tr.model, tr.vocab, tr.test_lines),
                     "test_ce": run.summary["test_ce"], "train_s": run.summary["train_s"]}
    return out


def through_time(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    from aegrad.models.seq.findings import vanishing_through_time

    out = {}
    for cell in ("rnn", "gru"):
        over = {"model.seq.cell": cell, "model.seq.hidden": 128, "train.epochs": args.tt_epochs}
        if args.quick:
            over.update({"model.seq.hidden": 64, "data.limit": 640, "train.batch_size": 32, "train.lr": 0.005})
        run = _train(over, root / f"tt-{cell}")
        epochs = [m for m in run.metrics if m.get("kind") == "epoch"]
        found = [f.to_dict() for f in vanishing_through_time(run.metrics, run.config)]
        out[cell] = {
            "ratio_per_epoch": [e["test_tgrad_ratio"] for e in epochs],
            "span": epochs[-1]["test_tgrad_span"],
            "per_step": epochs[-1]["test_tgrad_per_step"],
            "test_ce": epochs[-1]["test_ce"],
            "finding": found[0]["kind"] if found else None,
            "train_s": run.summary["train_s"],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.apps_text", description=__doc__.splitlines()[0])
    p.add_argument("--run", help="a trained text-fortunes run directory to reuse")
    p.add_argument("--quick", action="store_true", help="small models, for a smoke run")
    p.add_argument("--limit", type=int, default=None, help="only the first N test lines in the compression table")
    p.add_argument("--tt-epochs", type=int, default=6, help="epochs of the tanh-RNN / GRU pair (default 6)")
    p.add_argument("--out", help="also write the results as JSON here")
    args = p.parse_args(argv)
    if args.out and not Path(args.out).parent.is_dir():
        print(f"benchmarks.apps_text: error: --out folder does not exist: {Path(args.out).parent}", file=sys.stderr)
        return 2

    from aegrad.apps.text.command import format_eval
    from aegrad.apps.text.compress import evaluate_run
    from aegrad.apps.text.probe import probe_text
    from aegrad.apps.text.run import open_text_run

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run_dir = Path(args.run) if args.run else None
        if run_dir is None:
            over = {"train.epochs": 2, "model.seq.hidden": 64} if args.quick else {}
            t0 = time.perf_counter()
            run_dir = _train(over, root / "fortunes").path
            print(f"trained text-fortunes in {time.perf_counter() - t0:.0f} s")
        results["compression"] = evaluate_run(run_dir, args.limit)
        print(format_eval(results["compression"]))
        r = results["probe"] = probe_text(open_text_run(run_dir))
        print(f"\nclassification, {r['classes']} fortunes categories, {r['test_lines']} test lines: majority "
              f"{r['majority_class']:.3f}, latent logistic {r['latent_logistic']:.3f}, "
              f"tf-idf logistic {r['tfidf_logistic']:.3f}")
        rec = results["reconstruction"] = variants(args, root)
        print("\nreconstruction from z alone, held-out words (text-words preset):")
        for name, v in rec.items():
            print(f"  {name:<32} exact {v['exact_match']:.3f}  per character {v['char_accuracy']:.3f}  "
                  f"test ce {v['test_ce']:.3f} nats  ({v['train_s']:.0f} s)")
        tt = results["through_time"] = through_time(args, root)
        print(f"\ngradient through time (fortunes <= 64 chars, {args.tt_epochs} epochs):")
        for cell, v in tt.items():
            ratios = ", ".join(f"{x:.2g}" for x in v["ratio_per_epoch"])
            print(f"  {cell:<4} g({int(v['span'])})/g(0) per epoch: {ratios}; x{v['per_step']:.3f}/step; "
                  f"test ce {v['test_ce']:.3f} nats; finding: {v['finding'] or 'none'} ({v['train_s']:.0f} s)")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
