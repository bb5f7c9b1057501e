"""RD curves as PNG (matplotlib, imported here only): bpp against PSNR and SSIM, one panel per regime."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from aegrad.apps.compress.rd import REGIMES

STYLE = {"aegrad": ("o-", "C3"), "jpeg": ("s--", "C0"), "webp": ("^--", "C2"), "avif": ("v--", "C4"),
         "png": ("*", "C7")}


def plot_rd(result: dict[str, Any], out: Path) -> list[Path]:
    """rd_psnr.png and rd_ssim.png in `out` (PNG's lossless rate drawn as a vertical line)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for metric, label in (("psnr", "PSNR (dB)"), ("ssim", "SSIM")):
        fig, axes = plt.subplots(1, len(REGIMES), figsize=(11, 4.2), squeeze=False)
        for ax, regime in zip(axes[0], REGIMES):
            pts = [p for p in result["points"] if p["regime"] == regime]
            for codec in dict.fromkeys(p["codec"] for p in pts):
                mine = sorted((p for p in pts if p["codec"] == codec), key=lambda p: p["bpp"])
                style, color = STYLE.get(codec, ("o-", None))
                if codec == "png" or not all(math.isfinite(p[metric]) for p in mine):
                    for p in mine:
                        ax.axvline(p["bpp"], color=color, ls=":", label=f"{codec} (lossless)")
                    continue
                ax.plot([p["bpp"] for p in mine], [p[metric] for p in mine], style, color=color, label=codec, ms=4)
            ax.set_title(f"{regime} ({result['images']} images {result['shape']})", fontsize=10)
            ax.set_xlabel("bits per pixel (file bytes x 8 / pixels)")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / f"rd_{metric}.png"
        out.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
