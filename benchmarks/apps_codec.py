"""aegrad's learned codec beside JPEG, WebP, AVIF and PNG (Pillow), same images, same run:
``python -m benchmarks.apps_codec [--data fashion images] [--quick]``.

For each data set it trains the lambda sweep (the built-in study ``codec-<data>``:
five codecs, one per lambda; a study folder that already holds the trained runs
is reused), then runs ``aegrad rd``'s evaluation on the test split: both regimes
(one file per image; one file for the whole set, a mosaic for the Pillow codecs),
bpp from the bytes written, PSNR and SSIM from scikit-image, BD-rate vs JPEG,
WebP and AVIF, encode/decode throughput. Writes <out>/<data>/rd.json, rd.csv and
the two plots, and prints the table.

CompressAI cannot be imported beside this torch (it imports torchvision at import
time); its published figures are cited in the README instead of a same-run row.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _study(data: str, root: Path, quick: bool) -> Path:
    from aegrad import study

    out = root / f"codec-{data}{'-quick' if quick else ''}"
    if out.is_dir() and len(list(out.rglob("model.safetensors"))) >= (3 if quick else 5):
        print(f"[{data}] reusing the trained sweep in {out}", flush=True)
        return out
    spec = study.load_spec(builtin=f"codec-{data}", quick=quick)
    t0 = time.perf_counter()
    study.run_study(spec, out=out, jobs=1, progress=lambda line: print(f"[{data}] {line}", flush=True))
    print(f"[{data}] sweep trained in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.apps_codec", description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", choices=["fashion", "images"], default=["fashion", "images"])
    p.add_argument("--studies", default="studies", help="where the lambda sweeps are trained (or found)")
    p.add_argument("--out", default="bench-codec", help="folder for <data>/rd.json, rd.csv and plots")
    p.add_argument("--limit", type=int, default=None, help="test images evaluated (default: the whole test split)")
    p.add_argument("--quick", action="store_true", help="3 lambdas, 1 epoch, every other Pillow quality")
    args = p.parse_args(argv)

    from aegrad.apps.compress.command import main_rd

    for data in args.data:
        runs = _study(data, Path(args.studies), args.quick)
        main_rd([str(runs)], Path(args.out) / data, args.limit, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
