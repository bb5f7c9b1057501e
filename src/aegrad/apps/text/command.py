"""Text commands over a trained ``model.kind: seq`` run.

    aegrad text-compress RUN_DIR FILE -o OUT.aetx [--step S]   lossless, range-coded; prints bytes and bits/char vs gzip
    aegrad text-decompress RUN_DIR FILE.aetx -o OUT.txt
    aegrad text-eval RUN_DIR [--limit N] [--reconstruction-only] [--json]
                                                              reconstruction accuracy; aegrad vs gzip/bzip2/xz/zstd
                                                              on test lines
    aegrad text-sample RUN_DIR [-n 8] [--seed 0] [--temperature T]
    aegrad text-interpolate RUN_DIR --between I J [--steps 6]
    aegrad text-probe RUN_DIR [--json]                        latent codes vs TF-IDF, logistic regression on labels
    aegrad text-gradients RUN_DIR [--lines 256]               gradient through time, distance by distance; the finding
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aegrad.apps.family import family_command
from aegrad.errors import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("text-compress", help="compress a UTF-8 text file, a line at a time, with a text run's model")
    p.add_argument("run_dir")
    p.add_argument("file")
    p.add_argument("-o", "--out", required=True, help="the .aetx file to write")
    p.add_argument("--step", type=float, default=None,
                   help="latent bin width (default: chosen on training lines, saved)")
    p = sub.add_parser("text-decompress", help="decompress a .aetx file written by text-compress")
    p.add_argument("run_dir")
    p.add_argument("file")
    p.add_argument("-o", "--out", required=True, help="the text file to write")
    p = sub.add_parser("text-eval", help="a text run's reconstruction accuracy and compression vs gzip/bzip2/xz/zstd")
    p.add_argument("run_dir")
    p.add_argument("--limit", type=int, default=None, help="only the first N test lines")
    p.add_argument("--step", type=float, default=None, help="latent bin width (default: chosen on training lines)")
    p.add_argument("--reconstruction-only", action="store_true", help="skip the compression comparison")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("text-sample",
                       help="lines decoded from codes drawn from the prior (or the fitted code Gaussian)")
    p.add_argument("run_dir")
    p.add_argument("-n", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=0.0, help="0: greedy decoding (default)")
    p = sub.add_parser("text-interpolate", help="lines decoded along a straight path between two test lines' codes")
    p.add_argument("run_dir")
    p.add_argument("--between", type=int, nargs=2, required=True, metavar=("I", "J"))
    p.add_argument("--steps", type=int, default=6)
    p = sub.add_parser("text-probe", help="classify a text run's test lines from their codes vs TF-IDF")
    p.add_argument("run_dir")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("text-gradients", help="how the gradient reaching each encoder step decays with distance")
    p.add_argument("run_dir")
    p.add_argument("--lines", type=int, default=256, help="test lines the probe measures")


def _lines_of(path: Path) -> list[str]:
    if not path.is_file():
        raise UserError(f"text file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{path} is not UTF-8 ({err.reason} at byte {err.start})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    return lines


def _writable(out: str) -> Path:
    p = Path(out)
    if not p.parent.is_dir():
        raise UserError(f"-o folder does not exist: {p.parent}")
    return p


def cmd_compress(args: argparse.Namespace) -> int:
    from aegrad.apps.text.codec import PRIOR_FILE, LatentPrior, bits_per_char, encode_lines, fit_prior, pack
    from aegrad.apps.text.compress import classical
    from aegrad.apps.text.run import open_text_run
    from aegrad.run import atomic_write_bytes

    out = _writable(args.out)
    src = Path(args.file)
    lines = _lines_of(src)
    tr = open_text_run(args.run_dir, with_data=args.step is not None or not (Path(args.run_dir) / PRIOR_FILE).exists())
    if tr.data is not None:
        fit_prior(tr.model, tr.data.train_x, args.step).save(tr.run.path)
    prior = LatentPrior.load(tr.run.path)
    data = pack(encode_lines(tr.model, tr.vocab, prior, lines), len(lines))
    atomic_write_bytes(out, data)
    chars = sum(len(s) for s in lines) + len(lines)
    gz = len(classical("gzip", src.read_bytes()))
    print(f"{out}: {len(lines)} lines, {src.stat().st_size} -> {len(data)} bytes, "
          f"{bits_per_char(len(data), chars):.3f} bits/char (gzip -9: {gz} bytes, {bits_per_char(gz, chars):.3f})")
    return 0


def cmd_decompress(args: argparse.Namespace) -> int:
    from aegrad.apps.text.codec import LatentPrior, decode_lines, unpack
    from aegrad.apps.text.run import open_text_run
    from aegrad.run import atomic_write_text

    out = _writable(args.out)
    src = Path(args.file)
    if not src.is_file():
        raise UserError(f"compressed file not found: {src}")
    words, n = unpack(src.read_bytes())
    tr = open_text_run(args.run_dir, with_data=False)
    lines = decode_lines(tr.model, tr.vocab, LatentPrior.load(tr.run.path), words, n)
    atomic_write_text(out, "".join(s + "\n" for s in lines))
    print(f"{out}: {n} lines")
    return 0


def format_eval(r: dict) -> str:
    head = (f"{r['run']}: {r['lines']} test lines, {r['characters']} characters; reconstruction from z alone: "
            f"exact {r['exact_match']:.3f}, per character {r['char_accuracy']:.3f}, "
            f"correct start {r['correct_prefix']:.1f} characters")
    if "methods" not in r:
        return head
    rows = [f"{head}; latent step {r['latent_step']}",
            f"{'method':<8} {'per-line bytes':>14} {'bits/char':>9} {'together bytes':>14} {'bits/char':>9}"]
    for name, m in r["methods"].items():
        rows.append(f"{name:<8} {m['per_line_bytes']:>14} {m['per_line_bpc']:>9.3f} {m['together_bytes']:>14} "
                    f"{m['together_bpc']:>9.3f}")
    return "\n".join(rows)


def cmd_eval(args: argparse.Namespace) -> int:
    from aegrad.apps.text.compress import evaluate_run

    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, got {args.limit}")
    r = evaluate_run(args.run_dir, args.limit, args.step, compression=not args.reconstruction_only)
    print(json.dumps(r, indent=2) if args.json else format_eval(r))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from aegrad.apps.text.generate import sample_lines
    from aegrad.apps.text.run import open_text_run

    lines, prior = sample_lines(open_text_run(args.run_dir), args.n, args.seed, args.temperature)
    print(f"# z ~ {prior}; {'greedy' if args.temperature == 0 else f'temperature {args.temperature}'}")
    print("\n".join(lines))
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    from aegrad.apps.text.generate import interpolate_lines
    from aegrad.apps.text.run import open_text_run

    lines = interpolate_lines(open_text_run(args.run_dir), *args.between, steps=args.steps)
    print("\n".join(f"{'A' if k == 0 else 'B' if k == len(lines) - 1 else k:>2}  {s}" for k, s in enumerate(lines)))
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from aegrad.apps.text.probe import probe_text
    from aegrad.apps.text.run import open_text_run

    r = probe_text(open_text_run(args.run_dir))
    if args.json:
        print(json.dumps(r, indent=2))
    else:
        print(f"{r['run']}: {r['train_lines']} train / {r['test_lines']} test lines, {r['classes']} classes")
        print(f"majority class   {r['majority_class']:.3f}")
        print(f"latent ({r['latent_dims']:>3}d)  {r['latent_logistic']:.3f}  logistic regression on z")
        print(f"tf-idf           {r['tfidf_logistic']:.3f}  logistic regression on word 1-2 + char 2-4-grams")
    return 0


def cmd_gradients(args: argparse.Namespace) -> int:
    from aegrad.apps.text.run import open_text_run
    from aegrad.models.seq.timedecay import summarize, time_decay
    from aegrad.diagnose import format_findings
    from aegrad.models.seq.findings import vanishing_through_time

    tr = open_text_run(args.run_dir)
    if tr.run.config.model.seq.cell == "transformer":
        raise UserError("text-gradients measures the gradient through a recurrent encoder's steps; this run's "
                        "model.seq.cell=transformer has none (attention reaches every position in one step)")
    g, n = time_decay(tr.model, tr.data.test_x[: args.lines])
    s = summarize(g, n)
    print(f"gradient norm reaching the encoder state d steps before a line's end (relative to d=0), "
          f"{min(args.lines, len(tr.data.test_x))} test lines, cell {tr.run.config.model.seq.cell}:")
    for d in [0, 1, 2, 4, 8, 16, 32, 48, 63]:
        if d < len(g) and n[d] > 0:
            print(f"  d={d:>2}  {float(g[d] / g[0]):.3g}  ({int(n[d])} lines)")
    print(f"ratio over {int(s['tgrad_span'])} steps {s['tgrad_ratio']:.3g}, x{s['tgrad_per_step']:.3f} per step")
    found = [f.to_dict() for f in vanishing_through_time(tr.run.metrics, tr.run.config)]
    print(format_findings({"healthy": not found, "findings": found}))
    return 0


COMMANDS = {
    "text-compress": cmd_compress,
    "text-decompress": cmd_decompress,
    "text-eval": cmd_eval,
    "text-sample": cmd_sample,
    "text-interpolate": cmd_interpolate,
    "text-probe": cmd_probe,
    "text-gradients": cmd_gradients,
}


# ---- text's forms of the commands every family shares (`aegrad sample/interpolate/probe` on a seq run)


@family_command("sample", "seq")
def _sample(args: argparse.Namespace) -> int:
    return cmd_sample(argparse.Namespace(run_dir=args.run_dir, n=args.n, seed=args.seed, temperature=0.0))


@family_command("interpolate", "seq")
def _interpolate(args: argparse.Namespace) -> int:
    return cmd_interpolate(argparse.Namespace(run_dir=args.run_dir, between=args.between, steps=args.steps))


@family_command("probe", "seq")
def _probe(args: argparse.Namespace) -> int:
    return cmd_probe(argparse.Namespace(run_dir=args.run_dir, json=args.json))
