"""What every report module shares: the plots' file names, the page's CSS, and figure helpers.

Every other module of ``aegrad.report`` imports from here and this module imports none of
them, so the package has no import cycle. Figures are ``matplotlib.figure.Figure`` objects on
an Agg canvas, never pyplot: no global backend or figure registry is touched, and matplotlib
is imported only when a figure is drawn.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aegrad.run import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# The PNGs `write_plots` leaves in RUN_DIR/plots (report.html embeds them by these names).
LOSS_PNG = "loss.png"
LR_PNG = "lr.png"
RECONSTRUCTIONS_PNG = "reconstructions.png"
GRADFLOW_PNG = "gradflow.png"
GRADFLOW_LAYERS_PNG = "gradflow_layers.png"
DPI = 110
# A log axis gets at least this many labelled ticks inside its view (else nice linear values).
MIN_LOG_TICKS = 3

CSS = """
:root { --fg: #1d232b; --muted: #5b6673; --line: #d5dbe1; --bg-soft: #f5f7f9;
        --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; line-height: 1.5;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; word-break: break-all; }
h2 { font-size: 1.2rem; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.02rem; margin: 0 0 6px; }
.sub { color: var(--muted); margin: 0 0 8px; }
.verdict { display: inline-block; font-weight: 600; padding: 4px 12px; border-radius: 6px; margin: 6px 0; }
.verdict.healthy { color: var(--ok); background: #dafbe1; }
.verdict.findings { color: var(--bad); background: #ffebe9; }
.verdict.unknown { color: var(--muted); background: var(--bg-soft); }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid var(--line); padding: 5px 12px; text-align: left; vertical-align: top; }
th { background: var(--bg-soft); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
            font-size: 0.88em; }
code { background: var(--bg-soft); padding: 1px 4px; border-radius: 4px; }
pre { background: var(--bg-soft); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
      overflow-x: auto; }
details { margin: 8px 0; }
summary { cursor: pointer; font-weight: 600; }
figure { margin: 12px 0 20px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 0.9em; margin-top: 4px; }
.finding { border: 1px solid var(--line); border-left: 5px solid var(--warn); border-radius: 6px;
           padding: 12px 16px; margin: 12px 0; }
.finding.sev-error, .finding.sev-critical, .finding.sev-high { border-left-color: var(--bad); }
.finding.sev-info, .finding.sev-low { border-left-color: var(--muted); }
.badge { font-size: 0.78em; font-weight: 600; text-transform: uppercase; letter-spacing: 0.04em;
         padding: 1px 8px; border-radius: 10px; background: var(--bg-soft); border: 1px solid var(--line);
         vertical-align: middle; }
.remedies li { margin: 6px 0; }
.remedies code { white-space: pre-wrap; word-break: break-word; }
.note { color: var(--muted); font-style: italic; }
"""


def new_figure(width: float, height: float) -> Figure:
    """A Figure on its own Agg canvas (no pyplot, so no global state and no GUI backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure) -> bytes:
    """`fig` rendered as PNG. No 'Software' tag: the file names no URL."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def png_base64(fig: Figure) -> str:
    """`fig` as the base64 text of a PNG ``data:`` URI."""
    return base64.b64encode(png_bytes(fig)).decode("ascii")


def save_figure(fig: Figure, path: Path) -> Path:
    """Render `fig` to PNG and write it atomically."""
    atomic_write_bytes(path, png_bytes(fig))
    return path


def plain_number(x: float, pos: Any = None) -> str:
    """A tick label: 0.13, 0.001, 20, 1e-25 — never mathtext (10^-3), whose parser is slow."""
    return f"{x:.3g}"


def readable_log_ticks(vmin: float, vmax: float) -> list[float]:
    """Tick values for a log axis viewing [vmin, vmax], at least MIN_LOG_TICKS of them inside it.

    Powers of ten when the view spans enough decades; else 1-2-5 steps per decade; else (a view
    inside one decade, e.g. 0.13-0.2, where a log axis has no power of ten at all) nice linear
    values, which a log axis draws just as well.
    """
    from matplotlib.ticker import LogLocator, MaxNLocator

    lo, hi = min(vmin, vmax), max(vmin, vmax)
    if not (lo > 0 and math.isfinite(lo) and math.isfinite(hi)):
        return []

    def inside(ticks: Any) -> list[float]:
        return [float(t) for t in ticks if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)]

    for subs in ((1.0,), (1.0, 2.0, 5.0)):
        ticks = inside(LogLocator(base=10, subs=subs, numticks=12).tick_values(lo, hi))
        if len(ticks) >= MIN_LOG_TICKS:
            return ticks
    return [t for t in inside(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)) if t > 0]


def log_axis(ax: Any, axis: str = "y") -> None:
    """A base-10 log scale whose major ticks carry plain-number labels across the data's range.

    matplotlib's own log ticks label only powers of ten (and some minor ticks); a curve inside
    one decade then shows no label where it lies. `readable_log_ticks` chooses the ticks from
    the current view each time the axis is drawn; minor ticks stay unlabelled.
    """
    from matplotlib.ticker import FuncFormatter, Locator, NullFormatter

    class ReadableLogLocator(Locator):
        def __call__(self) -> list[float]:
            return readable_log_ticks(*self.axis.get_view_interval())

        def tick_values(self, vmin: float, vmax: float) -> list[float]:
            return readable_log_ticks(vmin, vmax)

    getattr(ax, f"set_{axis}scale")("log")
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(ReadableLogLocator())
    target.set_major_formatter(FuncFormatter(plain_number))
    target.set_minor_formatter(NullFormatter())
