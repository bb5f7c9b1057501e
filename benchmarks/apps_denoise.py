"""Denoising section: one denoising autoencoder per Gaussian noise level vs scikit-image's classical filters.

Each level trains the fashion-denoise preset (a U-Net predicting the noise:
skip connections, no bottleneck; 20k training images, 5 epochs) with
``train.noise: gaussian`` at that level and measures PSNR/SSIM on `TEST_LIMIT`
test images, noisy and denoised, beside Gaussian blur (width chosen per level
by PSNR), 3x3 median, non-local means and BayesShrink wavelets (given the true
sigma). ``--quick``: the same model, small, on digits, one level.

    python -m benchmarks --sections denoise            (inside make bench)
    python -m benchmarks.apps_denoise [--quick] [--out denoise.json]
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

LEVELS = (0.1, 0.3, 0.5)
TEST_LIMIT = 300
PRESET = "fashion-denoise"
OVERRIDES = {"train.threads": 1}  # the preset's sizes (20k images, 5 epochs) fit one thread of 2 shared cores
QUICK = {"data.source": "digits", "data.limit": None, "model.channels": [8, 16], "train.epochs": 3}


def run(quick: bool, log: Callable[[str], None], data_dir: str | None = None) -> dict[str, Any]:
    """Every level's PSNR/SSIM table; the trained runs and grids go to a temp folder (`aegrad denoise` keeps them)."""
    import aegrad
    from aegrad.apps.denoise import denoise_study

    levels, overrides = ((0.3,), dict(QUICK)) if quick else (LEVELS, dict(OVERRIDES))
    preset = PRESET
    if data_dir:
        overrides["data.path"] = data_dir
    cfg = aegrad.load_config(preset=preset, overrides=overrides)
    with tempfile.TemporaryDirectory(prefix="aegrad-denoise-") as tmp:
        out = Path(tmp)
        res = denoise_study(
            "gaussian", levels, out, cfg=cfg, test_limit=TEST_LIMIT,
            progress=lambda r: log(f"[denoise] sigma {r['level']}: autoencoder "
                                   f"{r['methods']['autoencoder']['psnr']:.2f} dB, "
                                   f"best classical {r['best_classical']} "
                                   f"{r['methods'][r['best_classical']]['psnr']:.2f} dB"),
        )
    for r in res["results"]:  # the runs and grids lived in the temp folder
        del r["grid"], r["run"]
    met = [r["methods"]["autoencoder"]["psnr"] > r["methods"][r["best_classical"]]["psnr"] for r in res["results"]]
    return {**res, "preset": preset, "overrides": overrides, "test_limit": TEST_LIMIT,
            "target": {"what": "autoencoder PSNR above the best classical filter at every level", "met_per_level": met,
                       "met": all(met)}}


def table(res: dict[str, Any]) -> list[str]:
    methods = list(res["results"][0]["methods"])
    lines = [
        f"Denoising, Gaussian noise: one `{res['preset']}` denoiser per level "
        f"({', '.join(f'{k}={v}' for k, v in res['overrides'].items())}), "
        f"{res['test_limit']} test images; PSNR dB / SSIM against the clean image (outputs clipped to [0, 1]).",
        "",
        "| sigma | " + " | ".join(methods) + " | best classical |",
        "|---:|" + "---:|" * len(methods) + "---|",
    ]
    for r in res["results"]:
        cells = " | ".join(f"{r['methods'][m]['psnr']:.2f} / {r['methods'][m]['ssim']:.3f}" for m in methods)
        lines.append(f"| {r['level']:g} | {cells} | {r['best_classical']} |")
    t = res["target"]
    lines += ["", f"Target ({t['what']}): {'met' if t['met'] else 'not met'} "
              f"({', '.join(f'{lv:g}: ' + ('yes' if m else 'no') for lv, m in zip(res['levels'], t['met_per_level']))}"
              f").", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    from benchmarks.apps import standalone

    return standalone("denoise", argv, "digits, one level")


if __name__ == "__main__":
    raise SystemExit(main())
