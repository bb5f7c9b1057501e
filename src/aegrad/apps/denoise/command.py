"""``aegrad denoise``: PSNR/SSIM of a denoising autoencoder vs scikit-image's classical filters."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

from aegrad.config import add_config_args


def add_parser(sub) -> None:
    p = sub.add_parser(
        "denoise", help="train (or load) a denoising autoencoder and compare it with classical filters"
    )
    p.add_argument("run_dir", nargs="?", help="measure this run at every level (default: train one per level)")
    add_config_args(
        p, preset_help="config to train denoisers from (default fashion-denoise: a U-Net predicting the noise)",
        config_help="a YAML config file to train denoisers from",
        set_help="override a config key of the denoisers trained (repeatable)",
    )
    p.add_argument("--noise", default="gaussian", help="gaussian | masking | salt_pepper (default gaussian)")
    p.add_argument("--levels", default="0.1,0.2,0.3", help="comma-separated noise levels (default 0.1,0.2,0.3)")
    p.add_argument("--test-limit", type=int, default=500, help="test images measured (default 500)")
    p.add_argument("--out", help="folder for denoise.json, grids and trained runs (default runs/denoise-<time>)")
    p.add_argument("--json", action="store_true", help="print denoise.json's object")


def _levels(text: str) -> list[float]:
    from aegrad.errors import UserError

    try:
        levels = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"--levels expects comma-separated numbers such as 0.1,0.2,0.3, got {text!r}") from None
    if not levels or any(v < 0 for v in levels):
        raise UserError(f"--levels expects non-negative numbers such as 0.1,0.2,0.3, got {text!r}")
    return levels


def format_denoise(res: dict) -> str:
    lines = []
    for r in res["results"]:
        lines.append(f"{r['noise']} {r['level']:g}  (best classical: {r['best_classical']}; grid {r['grid']})")
        for name, q in r["methods"].items():
            lines.append(f"  {name:<12} PSNR {q['psnr']:6.2f} dB   SSIM {q['ssim']:.4f}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from aegrad.apps.denoise.noise import list_eval_noises
    from aegrad.apps.denoise.runs import DEFAULT_PRESET, denoise_study
    from aegrad.config import config_from_args
    from aegrad.errors import UserError

    if args.noise not in list_eval_noises():
        raise UserError(f"unknown --noise {args.noise!r}; valid: {', '.join(list_eval_noises())}")
    if args.test_limit < 1:
        raise UserError(f"--test-limit must be at least 1, got {args.test_limit}")
    if args.run_dir and (args.preset or args.config or args.sets):
        raise UserError("a RUN_DIR is measured as trained; --preset/--config/--set apply only when training denoisers")
    cfg = None if args.run_dir else config_from_args(args, DEFAULT_PRESET)
    out = Path(args.out) if args.out else Path("runs") / f"denoise-{datetime.now():%Y%m%d-%H%M%S}"
    res = denoise_study(
        args.noise, _levels(args.levels), out, run_dir=args.run_dir, cfg=cfg, test_limit=args.test_limit
    )
    print(json.dumps(res, indent=2) if args.json else format_denoise(res))
    print(out / "denoise.json")
    return 0

COMMANDS = {"denoise": run}
