"""The study report: one self-contained HTML file drawn from a study folder alone.

It reads results.json (and lr_sweep.json, and each trial's metrics.jsonl for the
loss curves) and shows: the grid × bundle table of test_mse / trivial_mse (mean
over seeds, green when it trained, red when not), the first/last-layer gradient
ratio against the grid's first key, test-loss curves, the sweep, a conclusion
computed from those numbers, and every trial. Images are inlined as base64 PNGs
drawn on an Agg canvas (no pyplot state); nothing needs a network or JavaScript.

The grid's first key is the x axis ("depth" in the vanishing study); any further
grid keys split the tables and plots into one panel per combination of their values.
"""

from __future__ import annotations

import itertools
import math
import statistics
from html import escape
from pathlib import Path
from typing import Any

from aegrad.errors import UserError
from aegrad.report.common import CSS, new_figure, png_base64
from aegrad.run import METRICS, REPORT, atomic_write_text, read_json, read_jsonl
from aegrad.study.layout import RESULTS_JSON, SPEC, SWEEP_JSON

MAX_PANELS = 8  # small multiples beyond this are dropped (the tables still hold every value)
RATIO_CAP = 1.5  # test/trivial is drawn up to here: a diverged run (1e6) must not flatten the ones that train

STUDY_CSS = """
td.ok { background: #dafbe1; color: #1a7f37; }
td.bad { background: #ffebe9; color: #cf222e; }
td.failed { background: #f5f7f9; color: #5b6673; }
td.chosen { font-weight: 700; background: #dafbe1; }
ul.conclusions li { margin: 4px 0; }
.wide { overflow-x: auto; }
"""


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _fmt(v: Any, spec: str = ".3g") -> str:
    n = _num(v)
    if n is not None:
        return format(n, spec)
    return "—" if v is None else str(v)


def _label(v: Any) -> str:
    return "none" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


class _Table:
    """The study's numbers, grouped: (other-keys combo, x value, bundle) -> trials."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.threshold = float(doc.get("threshold", 0.9))
        grid: dict[str, list[Any]] = doc.get("grid") or {}
        self.keys = list(grid)
        self.x_key = self.keys[0] if self.keys else None
        self.xs = list(grid[self.x_key]) if self.x_key else [None]
        self.other_keys = self.keys[1:]
        self.combos = [dict(zip(self.other_keys, c)) for c in itertools.product(*(grid[k] for k in self.other_keys))]
        self.trials = [t for t in doc.get("trials", []) if t.get("kind", "trial") == "trial"]
        self.bundles = list(doc.get("bundles") or dict.fromkeys(t["bundle"] for t in self.trials))

    def cell(self, combo: dict[str, Any], x: Any, bundle: str) -> list[dict[str, Any]]:
        return [
            t
            for t in self.trials
            if t["bundle"] == bundle
            and (self.x_key is None or t["grid"].get(self.x_key) == x)
            and all(t["grid"].get(k) == v for k, v in combo.items())
        ]

    def mean(self, trials: list[dict[str, Any]], field: str) -> float | None:
        values = [v for t in trials if t["status"] == "ok" and (v := _num(t.get(field))) is not None]
        return statistics.fmean(values) if values else None

    def geomean(self, trials: list[dict[str, Any]], field: str) -> float | None:
        values = [v for t in trials if t["status"] == "ok" and (v := _num(t.get(field))) is not None and v >= 0]
        if values and min(values) == 0:
            return 0.0  # a gradient that underflowed to exactly 0 in float32: the mean of logs is -inf
        return math.exp(statistics.fmean(map(math.log, values))) if values else None

    def ratio(self, combo: dict[str, Any], x: Any, bundle: str) -> float | None:
        return self.mean(self.cell(combo, x, bundle), "test_over_trivial")

    def trained(self, combo: dict[str, Any], x: Any, bundle: str) -> bool | None:
        r = self.ratio(combo, x, bundle)
        return None if r is None else r < self.threshold

    def combo_title(self, combo: dict[str, Any]) -> str:
        return ", ".join(f"{k}={_label(v)}" for k, v in combo.items())

    @property
    def numeric_x(self) -> bool:
        return self.x_key is not None and all(_num(x) is not None for x in self.xs)


# ---------------------------------------------------------------- conclusions


def conclusions(table: _Table, sweep: dict[str, Any] | None) -> list[str]:
    """Sentences computed from the numbers: where each bundle stops training, who trains everywhere."""
    if table.x_key is None:
        trained = [b for b in table.bundles if table.trained({}, None, b)]
        out = [f"Bundles that train (test/trivial < {table.threshold:g}): {', '.join(trained) or 'none'}."]
    elif len(table.combos) == 1:
        out = _along_x(table)
    else:
        out = _across_grid(table)
    out += _sweep_conclusions(sweep)
    failed = [r for r in table.trials if r["status"] != "ok"]
    if failed:
        shown = "; ".join(f"{r['trial']} ({r.get('error') or 'no error recorded'})" for r in failed[:5])
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        out.append(f"{len(failed)} of {len(table.trials)} trials failed: {shown}{more}.")
    return out


def _along_x(table: _Table) -> list[str]:
    """One grid key (e.g. depth): where the first bundle stops, who trains everywhere, how far each gets."""
    t, xk, thr, combo = table, table.x_key, table.threshold, {}
    out = []
    base = t.bundles[0]
    verdicts = [t.trained(combo, x, base) for x in t.xs]
    fails = [x for x, v in zip(t.xs, verdicts) if v is False]
    if fails and verdicts[0]:
        x = fails[0]
        r = _fmt(t.ratio(combo, x, base))
        out.append(f"{base} stops learning at {xk} {_label(x)} (test/trivial {r} ≥ {thr:g}).")
    elif fails and len(fails) == sum(v is not None for v in verdicts):
        out.append(f"{base} does not train at any {xk} tried (test/trivial ≥ {thr:g} throughout).")
    elif not fails and any(verdicts):
        out.append(f"{base} trains at every {xk} tried.")
    everywhere = [b for b in t.bundles if all(t.trained(combo, x, b) for x in t.xs)]
    out.append(f"Bundles that train at every {xk}: {', '.join(everywhere) or 'none'}.")
    if t.numeric_x:
        parts = []
        for b in t.bundles:
            ok = [x for x in t.xs if t.trained(combo, x, b)]
            parts.append(f"{b} {_label(max(ok, key=float)) if ok else 'none'}")
        out.append(f"Largest {xk} each bundle trains at: {'; '.join(parts)}.")
    last = t.xs[-1]
    at_last = [(r, b) for b in t.bundles if (r := t.ratio(combo, last, b)) is not None]
    if len(t.xs) > 1 and at_last:
        ranked = "; ".join(f"{b} {_fmt(r)}" for r, b in sorted(at_last))
        out.append(f"At {xk} {_label(last)}, best first (test/trivial): {ranked}.")
    grads = [(b, g) for b in t.bundles if (g := t.geomean(t.cell(combo, last, b), "grad_ratio_end")) is not None]
    vanish = [f"{b} ({_fmt(g, '.1e') if g > 0 else '0: the gradient underflowed float32'})" for b, g in grads
              if g < 1e-3]
    explode = [f"{b} ({_fmt(g, '.1e')})" for b, g in grads if g > 1e3]
    if vanish:
        out.append(f"At {xk} {_label(last)} the first layer's gradient is < 1/1000 of the last's "
                   f"at the end of training (vanishing) for: {', '.join(vanish)}.")
    if explode:
        out.append(f"At {xk} {_label(last)} the first layer's gradient is > 1000× the last's (exploding) for: "
                   f"{', '.join(explode)}.")
    return out


def _across_grid(table: _Table) -> list[str]:
    """Several grid keys: each bundle's best point, where it trains along x, and what each other key does."""
    t, xk = table, table.x_key
    out = []
    best = []
    for b in t.bundles:
        scored = [(r, c, x) for c in t.combos for x in t.xs if (r := t.ratio(c, x, b)) is not None]
        if scored:
            r, c, x = min(scored, key=lambda s: s[0])
            best.append(f"{b} at {xk}={_label(x)}{', ' + t.combo_title(c) if c else ''} ({_fmt(r)})")
    if best:
        out.append(f"Best test/trivial per bundle: {'; '.join(best)}.")
    for c in t.combos:
        parts = []
        for b in t.bundles:
            ok = [x for x in t.xs if t.trained(c, x, b)]
            parts.append(f"{b} {', '.join(map(_label, ok)) if ok else 'none'}")
        out.append(f"With {t.combo_title(c)}, {xk} values that train: {'; '.join(parts)}.")
    for key in t.other_keys:
        values = list(dict.fromkeys(c[key] for c in t.combos))
        parts = []
        for b in t.bundles:
            per_value = []
            for v in values:
                rs = [r for c in t.combos if c[key] == v for x in t.xs if (r := t.ratio(c, x, b)) is not None]
                per_value.append(_fmt(min(rs)) if rs else "—")
            parts.append(f"{b} {' vs '.join(per_value)}")
        out.append(
            f"{key} = {' vs '.join(map(_label, values))}: best test/trivial per bundle {'; '.join(parts)}."
        )
    return out


def _sweep_conclusions(sweep: dict[str, Any] | None) -> list[str]:
    if not sweep or not sweep.get("trials"):
        return []
    parts, edges = [], []
    all_chosen = sweep.get("chosen") or {}
    for bundle, tune in (sweep.get("tunes") or {}).items():
        # a sweep at every grid point is keyed bundle@point (study/spec.py: sweep_key)
        keys = [k for k in all_chosen if k.startswith(f"{bundle}@")] if tune.get("every_point") else [bundle]
        for key in keys or [bundle]:
            chosen = all_chosen.get(key, {}).get(tune["key"])
            if chosen is None:
                parts.append(f"{key} none trained (kept its own value)")
                continue
            parts.append(f"{key} {_label(chosen)}")
            values = tune["values"]
            if len(values) > 1 and chosen in (values[0], values[-1]):
                edges.append(key)
    out = [f"Values the sweep chose: {'; '.join(parts)}."]
    if edges:
        out.append(f"The choice sits at the edge of the swept range for {', '.join(edges)}: "
                   "a wider sweep may do better.")
    return out


# ---------------------------------------------------------------- figures


def _figure(b64: str, alt: str, caption: str) -> str:
    return (
        f'<figure><img alt="{escape(alt)}" src="data:image/png;base64,{b64}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _grid_axes(fig: Any, n: int) -> list[Any]:
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    return [fig.add_subplot(rows, cols, i + 1) for i in range(n)]


def _x_positions(table: _Table) -> tuple[list[float], bool]:
    """Where each x value sits: its number (log axis when it spans 8x or more), else its index."""
    if table.numeric_x:
        xs = [float(x) for x in table.xs]
        log = min(xs) > 0 and max(xs) / min(xs) >= 8
        return xs, log
    return [float(i) for i in range(len(table.xs))], False


def _style_x(ax: Any, table: _Table, pos: list[float], log: bool) -> None:
    if log:
        ax.set_xscale("log", base=2 if all(float(x).is_integer() for x in pos) else 10)
    ax.set_xticks(pos)
    ax.set_xticklabels([_label(x) for x in table.xs])
    if log:
        ax.minorticks_off()
    ax.set_xlabel(table.x_key or "")


def _legend(fig: Any) -> None:
    """One legend under the panels, each bundle once (a bundle may be missing from some panels)."""
    seen: dict[str, Any] = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncol=min(len(seen), 5), fontsize=8)


def _cap_y(ax: Any) -> None:
    """test/trivial from 0 to just above the larger of 1 and its highest (capped) point."""
    ys = [float(y) for line in ax.lines for y in line.get_ydata() if math.isfinite(float(y))]
    ax.set_ylim(0.0, max(1.0, max(ys, default=1.0)) * 1.05)


def _colors(table: _Table) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(table.bundles) <= 10 else "tab20"]
    return {b: cmap(i % cmap.N) for i, b in enumerate(table.bundles)}


def plot_versus_x(table: _Table, fields: list[tuple[str, str]], ylabel: str, log_y: bool) -> str | None:
    """One line per bundle of per-trial fields against the x key: a panel per (field, combo).

    `fields` pairs a trial field with its panel title. Log-scale fields take the geometric
    mean over seeds (gradient ratios span 25 decades), others the arithmetic mean.
    """
    if table.x_key is None:
        return None
    panels = [(f, title, c) for f, title in fields for c in table.combos][:MAX_PANELS]
    fig = new_figure(4.6 * min(len(panels), 3), 3.6 * math.ceil(len(panels) / 3) + 0.6)
    pos, log_x = _x_positions(table)
    colors = _colors(table)
    drew = False
    axes = _grid_axes(fig, len(panels))
    for ax, (field, title, combo) in zip(axes, panels):
        for b in table.bundles:
            pts = []
            for p, x in zip(pos, table.xs):
                cell = table.cell(combo, x, b)
                v = table.geomean(cell, field) if log_y else table.mean(cell, field)
                if v is not None:
                    pts.append((p, min(v, RATIO_CAP) if field == "test_over_trivial" else v))
            if pts:
                ax.plot(*zip(*pts), marker="o", ms=4, label=b, color=colors[b])
                drew = True
        if field == "test_over_trivial":
            ax.axhline(table.threshold, color="0.4", lw=0.8, ls="--")
            _cap_y(ax)
        if log_y:
            ax.set_yscale("log")
        _style_x(ax, table, pos, log_x)
        ax.set_ylabel(ylabel)
        ax.grid(True, which="major", alpha=0.3)
        ax.set_title(", ".join(filter(None, [title, table.combo_title(combo)])), fontsize=9)
    if not drew:
        return None
    if log_y:  # one y range for every panel, so start and end compare at a glance
        lows, highs = zip(*(ax.get_ylim() for ax in axes))
        for ax in axes:
            ax.set_ylim(min(lows), max(highs))
    _legend(fig)
    return png_base64(fig)


def _curve(study_dir: Path, trials: list[dict[str, Any]]) -> tuple[list[int], list[float]] | None:
    """Test MSE / trivial per epoch, the mean over the cell's seeds (epochs all of them reached)."""
    series = []
    for t in trials:
        if t["status"] != "ok" or not _num(t["metrics"].get("trivial_mse")):
            continue
        trivial = float(t["metrics"]["trivial_mse"])
        epochs = [r for r in read_jsonl(study_dir / t["path"] / METRICS) if r.get("kind") == "epoch"]
        series.append({int(r["epoch"]): r["test_mse"] / trivial for r in epochs if _num(r.get("test_mse")) is not None})
    if not series:
        return None
    common = sorted(set.intersection(*(set(s) for s in series)))
    if not common:
        return None
    return common, [min(RATIO_CAP, statistics.fmean(s[e] for s in series)) for e in common]


def plot_curves(study_dir: Path, table: _Table) -> str | None:
    """Test-loss curves, a line per bundle, one panel per x value (first combo of the other keys)."""
    from matplotlib.ticker import MaxNLocator

    combo = table.combos[0]
    xs = table.xs[-MAX_PANELS:]
    fig = new_figure(4.2 * min(len(xs), 3), 3.2 * math.ceil(len(xs) / 3) + 0.6)
    colors = _colors(table)
    drew = False
    for ax, x in zip(_grid_axes(fig, len(xs)), xs):
        for b in table.bundles:
            curve = _curve(study_dir, table.cell(combo, x, b))
            if curve:
                ax.plot(*curve, marker="o", ms=3, label=b, color=colors[b])
                drew = True
        ax.axhline(table.threshold, color="0.4", lw=0.8, ls="--")
        _cap_y(ax)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        title = f"{table.x_key}={_label(x)}" if table.x_key else "all trials"
        ax.set_title(", ".join(filter(None, [title, table.combo_title(combo)])), fontsize=8)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test MSE / trivial")
        ax.grid(True, alpha=0.3)
    if not drew:
        return None
    _legend(fig)
    return png_base64(fig)


# ---------------------------------------------------------------- tables


def _ratio_table(table: _Table, combo: dict[str, Any]) -> str:
    head = "".join(f"<th>{escape(b)}</th>" for b in table.bundles)
    rows = []
    for x in table.xs:
        cells = []
        for b in table.bundles:
            trials = table.cell(combo, x, b)
            r = table.ratio(combo, x, b)
            n_failed = sum(t["status"] != "ok" for t in trials)
            note = f" <small>({n_failed} failed)</small>" if n_failed and r is not None else ""
            if r is None:
                cls, text = "failed", "failed" if trials else "—"
            else:
                cls, text = ("ok" if r < table.threshold else "bad"), f"{r:.3f}"
            seeds = ", ".join(_fmt(t.get("test_over_trivial")) for t in trials if t["status"] == "ok")
            cells.append(f'<td class="num {cls}" title="seeds: {escape(seeds)}">{text}{note}</td>')
        rows.append(f"<tr><th>{escape(_label(x))}</th>{''.join(cells)}</tr>")
    corner = escape(table.x_key or "")
    return f'<div class="wide"><table><tr><th>{corner}</th>{head}</tr>{"".join(rows)}</table></div>'


def _sweep_table(sweep: dict[str, Any] | None) -> str:
    if not sweep or not sweep.get("trials"):
        return "<p class='sub'>No sweep in this study (or --quick skipped it): each bundle used its own value.</p>"
    rows = []
    for t in sweep["trials"]:
        cls = ' class="chosen"' if t.get("chosen") else ""
        score = _fmt(t.get("score"), ".4g") if t["status"] == "ok" else f"failed: {t.get('error')}"
        rows.append(
            f"<tr><td>{escape(t['bundle'])}</td><td>{escape(t.get('trial', ''))}</td>"
            f"<td>{escape(t.get('tune_key', ''))}</td>"
            f"<td class='num'>{escape(_label(t.get('tune_value')))}</td><td class='num'{cls}>{escape(score)}</td>"
            f"<td class='num'>{_fmt(t.get('test_over_trivial'))}</td>"
            f"<td>{'chosen' if t.get('chosen') else ''}</td></tr>"
        )
    metric = ", ".join(sorted({v["metric"] for v in (sweep.get("tunes") or {}).values()})) or "score"
    return (
        f"<table><tr><th>bundle</th><th>trial</th><th>key</th><th>value</th><th>{escape(metric)}</th>"
        f"<th>test/trivial</th><th></th></tr>{''.join(rows)}</table>"
    )


def _trials_table(doc: dict[str, Any], table: _Table) -> str:
    keys = table.keys
    head = "".join(f"<th>{escape(k)}</th>" for k in ["trial", "bundle", "seed", *keys, "status", "test/trivial",
                                                     "test_mse", "grad ratio start", "grad ratio end", "findings",
                                                     "wall_s", "error"])
    rows = []
    for t in doc.get("trials", []):
        ratio = _num(t.get("test_over_trivial"))
        cls = "failed" if t["status"] != "ok" else "ok" if ratio is not None and ratio < table.threshold else "bad"
        cells = [t["trial"], t["bundle"], t["seed"], *(_label(t["grid"].get(k)) for k in keys), t["status"]]
        html = "".join(f"<td>{escape(str(c))}</td>" for c in cells)
        html += f'<td class="num {cls}">{_fmt(ratio)}</td>'
        html += f"<td class='num'>{_fmt(t['metrics'].get('test_mse'), '.4g')}</td>"
        html += f"<td class='num'>{_fmt(t.get('grad_ratio_start'), '.2e')}</td>"
        html += f"<td class='num'>{_fmt(t.get('grad_ratio_end'), '.2e')}</td>"
        html += f"<td>{escape(', '.join(map(str, t.get('findings') or [])))}</td>"
        html += f"<td class='num'>{_fmt(t['metrics'].get('wall_s'), '.1f')}</td>"
        html += f"<td>{escape(t.get('error') or '')}</td>"
        rows.append(f"<tr>{html}</tr>")
    return f'<div class="wide"><table><tr>{head}</tr>{"".join(rows)}</table></div>'


def _bundles_table(doc: dict[str, Any]) -> str:
    rows = []
    for name, b in (doc.get("bundles") or {}).items():
        overrides = ", ".join(f"{k}={_label(v)}" for k, v in (b.get("overrides") or {}).items())
        tuned = ", ".join(f"{k}={_label(v)}" for k, v in (doc.get("tuned") or {}).get(name, {}).items())
        rows.append(
            f"<tr><td>{escape(name)}</td><td>{escape(b.get('description') or '')}</td>"
            f"<td><code>{escape(overrides)}</code></td><td><code>{escape(tuned)}</code></td></tr>"
        )
    head = "<tr><th>bundle</th><th>what</th><th>overrides</th><th>swept value used</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


# ---------------------------------------------------------------- the page


def render_study_report(study_dir: str | Path) -> str:
    """The study report's HTML, from STUDY_DIR/results.json (+ lr_sweep.json, trials' metrics.jsonl)."""
    study_dir = Path(study_dir)
    doc = read_json(study_dir / RESULTS_JSON)
    sweep = read_json(study_dir / SWEEP_JSON) if (study_dir / SWEEP_JSON).exists() else None
    table = _Table(doc)
    name = doc.get("study", study_dir.name) + (" (quick)" if doc.get("quick") else "")
    n_ok = sum(t["status"] == "ok" for t in table.trials)
    thr = table.threshold
    parts = [
        f"<h1>Study: {escape(name)}</h1>",
        f"<p class='sub'>{escape(doc.get('description', ''))}</p>",
        f"<p>{len(table.trials)} trials ({n_ok} ok, {len(table.trials) - n_ok} failed): "
        f"{len(table.bundles)} bundles × {len(table.xs) * len(table.combos)} grid points × "
        f"{len(doc.get('seeds') or [0])} seeds. A trial <em>trained</em> when test MSE / trivial MSE "
        f"(predicting the training mean) is below {thr:g}.</p>",
        "<h2>Conclusions</h2><ul class='conclusions'>",
        *(f"<li>{escape(c)}</li>" for c in conclusions(table, sweep)),
        "</ul>",
        f"<h2>Test MSE / trivial MSE ({escape(table.x_key or 'trial')} × bundle, mean over seeds)</h2>",
        f"<p class='sub'>Green: trained (&lt; {thr:g}); red: not; grey: every seed failed. "
        "Hover a cell for the seeds' values.</p>",
    ]
    for combo in table.combos:
        if combo:
            parts.append(f"<h3>{escape(table.combo_title(combo))}</h3>")
        parts.append(_ratio_table(table, combo))
    grad_fields = [("grad_ratio_end", "end of training")]
    if len(table.combos) == 1:
        grad_fields.insert(0, ("grad_ratio_start", "start of training"))
    figs = [
        (plot_versus_x(table, [("test_over_trivial", "")], "test MSE / trivial", False),
         "test/trivial against the grid", f"Test MSE / trivial MSE (seed mean); dashed: the {thr:g} line; "
         f"values above {RATIO_CAP:g} "
         f"are drawn at {RATIO_CAP:g}."),
        (plot_versus_x(table, grad_fields, "first / last layer grad RMS", True),
         "gradient ratio", "First/last-layer weight-gradient RMS ratio in the first and last monitor windows "
         "(geometric mean over seeds, log scale): ≪ 1 means the gradient vanishes on its way back to the input."),
        (plot_curves(study_dir, table), "test-loss curves",
         f"Test MSE / trivial per epoch (seed mean, drawn up to {RATIO_CAP:g}), a line per bundle, "
         "a panel per grid value."),
    ]
    parts.append("<h2>Figures</h2>")
    for b64, alt, caption in figs:
        parts.append(_figure(b64, alt, caption) if b64 else f"<p class='sub'>({escape(alt)}: no data)</p>")
    parts += ["<h2>Learning-rate sweep</h2>", _sweep_table(sweep)]
    parts += ["<h2>Every trial</h2>", _trials_table(doc, table)]
    parts += ["<h2>Bundles</h2>", _bundles_table(doc)]
    spec = study_dir / SPEC
    if spec.exists():
        text = escape(spec.read_text(encoding="utf-8"))
        parts.append(f"<details><summary>{SPEC}</summary><pre>{text}</pre></details>")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>aegrad study {escape(name)}</title><style>{CSS}{STUDY_CSS}</style></head>\n"
        f"<body><main>{''.join(parts)}</main></body></html>\n"
    )


def write_study_report(study_dir: str | Path) -> Path:
    """Write STUDY_DIR/report.html (self-contained) and return its path."""
    study_dir = Path(study_dir)
    if not (study_dir / RESULTS_JSON).exists():
        raise UserError(f"{study_dir} is not a study directory (no {RESULTS_JSON}); run `aegrad study` first")
    out = study_dir / REPORT
    atomic_write_text(out, render_study_report(study_dir))
    return out
