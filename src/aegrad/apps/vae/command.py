"""``aegrad sample``, ``aegrad interpolate`` and ``aegrad nll``: a trained VAE run as a generator and a density.

    aegrad sample RUN_DIR -n 64 [--seed 0] [--out FILE.png]       RUN_DIR/samples.png (+ .npz)
    aegrad interpolate RUN_DIR --between I J [--steps 8] [--out]  RUN_DIR/interpolation.png (+ .npz)
    aegrad nll RUN_DIR [-k 1 10 100 1000] [--limit N] [--seed 0]  IWAE bounds on the test split, JSON
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from aegrad.apps.family import command_for
from aegrad.errors import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="a grid of samples from a VAE run's prior (PNG + NPZ)")
    p.add_argument("run_dir")
    p.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the prior draws (same seed, same grid)")
    p.add_argument("--out", help="PNG to write (default RUN_DIR/samples.png)")

    p = sub.add_parser("interpolate", help="decode a straight line in latent space between two test images (PNG + NPZ)")
    p.add_argument("run_dir")
    p.add_argument("--between", type=int, nargs=2, required=True, metavar=("I", "J"), help="two test-split indices")
    p.add_argument("--steps", type=int, default=8, help="decoded points between the two images (default 8)")
    p.add_argument("--out", help="PNG to write (default RUN_DIR/interpolation.png)")

    p = sub.add_parser("nll", help="a VAE run's importance-weighted bounds on the test log-likelihood (nats)")
    p.add_argument("run_dir")
    p.add_argument("-k", type=int, nargs="+", default=[1, 10, 100, 1000],
                   help="samples per bound (each divides the largest)")
    p.add_argument("--limit", type=int, default=None, help="score only the first N test samples")
    p.add_argument("--seed", type=int, default=0, help="seed of the importance samples")


def _run(path: str):
    from aegrad.run import load_run

    if not Path(path).is_dir():
        raise UserError(f"not a run directory: {path}")
    return load_run(path)


def _out(args: argparse.Namespace, run_dir: Path, stem: str) -> Path:
    out = Path(args.out) if args.out else run_dir / f"{stem}.png"
    if out.suffix.lower() != ".png":
        raise UserError(f"--out must name a .png file, got {out}")
    if not out.parent.is_dir():
        raise UserError(f"--out folder does not exist: {out.parent}")
    return out


def _test_split(run):
    from aegrad.data import load_dataset

    return load_dataset(run.config.data, run.config.seed).test_x


def cmd_sample(args: argparse.Namespace) -> int:
    from aegrad.models.variational.generate import SAMPLES, sample_prior, write_images

    run = _run(args.run_dir)
    own = command_for("sample", run.config.model.kind)  # a text run samples lines
    if own is not None:
        return own(args)
    out = _out(args, run.path, SAMPLES)
    images = sample_prior(run.model, args.n, run.config.model.latent, args.seed)
    print(write_images(out, images, cols=math.ceil(math.sqrt(args.n))))
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    import numpy as np

    from aegrad.models.variational.generate import INTERPOLATION, interpolate, require_variational, write_images

    run = _run(args.run_dir)
    own = command_for("interpolate", run.config.model.kind)  # a text run interpolates lines
    if own is not None:
        return own(args)
    out = _out(args, run.path, INTERPOLATION)
    model = run.model
    require_variational(model)
    test_x = _test_split(run)
    i, j = args.between
    for k in (i, j):
        if not 0 <= k < len(test_x):
            raise UserError(f"--between indices must be test samples 0..{len(test_x) - 1}, got {k}")
    strip = interpolate(model, test_x[i], test_x[j], args.steps)
    print(write_images(out, strip, cols=len(strip), between=np.array([i, j])))
    return 0


def cmd_nll(args: argparse.Namespace) -> int:
    from aegrad.models.variational.generate import require_variational
    from aegrad.apps.vae.iwae import iwae_bounds

    run = _run(args.run_dir)
    model = run.model
    require_variational(model)
    test_x = _test_split(run)
    if args.limit is not None:
        if args.limit < 1:
            raise UserError(f"--limit must be at least 1, got {args.limit}")
        test_x = test_x[: args.limit]
    if min(args.k) < 1 or any(max(args.k) % k for k in args.k):
        raise UserError(f"every -k must be positive and divide the largest ({max(args.k)}), got {args.k}")
    bounds = iwae_bounds(model, test_x, args.k, seed=args.seed)
    big = max(bounds)
    report = {
        "run": str(run.path),
        "test_samples": len(test_x),
        "bounds_nats": {str(k): round(v, 4) for k, v in bounds.items()},
        "nll_nats": round(-bounds[big], 4),
        "k": big,
    }
    print(json.dumps(report, indent=2))
    return 0


COMMANDS = {"sample": cmd_sample, "interpolate": cmd_interpolate, "nll": cmd_nll}
