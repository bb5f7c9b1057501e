"""The single-run report: one self-contained HTML file drawn from a run directory.

report.html references nothing outside itself: images are inlined as base64
``data:`` URIs, the CSS sits in a ``<style>`` element, and nothing needs
JavaScript or a network, so the file can be mailed, archived or opened offline.
It embeds the PNGs `write_plots` left in RUN_DIR/plots; a section whose input is
missing says so instead. All text taken from the run goes through html.escape.
"""

from __future__ import annotations

import base64
import json
import math
import re
import shlex
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

from aegrad.diagnose.patches import format_patch
from aegrad.diagnose.records import read_records
from aegrad.errors import UserError
from aegrad.report.common import CSS, GRADFLOW_LAYERS_PNG, GRADFLOW_PNG, LOSS_PNG, LR_PNG, RECONSTRUCTIONS_PNG
from aegrad.report.plots import write_plots
from aegrad.report.study import write_study_report
from aegrad.run import (
    CONFIG,
    FINDINGS,
    GRADIENTS,
    INTERPOLATION,
    PLOTS,
    RECONSTRUCTIONS,
    REPORT,
    SAMPLES,
    SUMMARY,
    atomic_write_text,
    load_run,
    read_json,
)
from aegrad.study.layout import RESULTS_JSON

# The gradient-flow PNGs report/gradflow.py writes, in the order they are shown.
GRADIENT_PNGS = (
    (GRADFLOW_PNG, "Gradient flow: each layer's weight-gradient RMS over training (log colour scale)."),
    (GRADFLOW_LAYERS_PNG, "Weight-gradient RMS per layer at the start, middle and end of training."),
)



# ---------------------------------------------------------------- formatting


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def fmt_number(v: Any, spec: str = ".4g") -> str:
    """A number as the report shows it ('—' when missing, 'nan'/'inf' as such)."""
    x = _num(v)
    if x is None:
        return "—" if v is None else str(v)
    if not math.isfinite(x):
        return str(x)
    return format(x, spec)


def fmt_duration(seconds: Any) -> str:
    """12.3 s, 4 min 05 s, 1 h 02 min."""
    s = _num(seconds)
    if s is None or not math.isfinite(s):
        return fmt_number(seconds)
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(round(s), 60)
    if m < 60:
        return f"{m} min {sec:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


# (label, summary key, formatter)
METRIC_ROWS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("test MSE", "test_mse", fmt_number),
    ("trivial MSE (predict the mean)", "trivial_mse", fmt_number),
    ("test / trivial", "test_over_trivial", lambda v: fmt_number(v, ".3g")),
    ("PSNR", "psnr", lambda v: "—" if v is None else f"{fmt_number(v, '.2f')} dB"),
    ("epochs", "epochs", lambda v: fmt_number(v, ",.0f")),
    ("optimizer steps", "steps", lambda v: fmt_number(v, ",.0f")),
    ("samples / s", "samples_per_s", lambda v: fmt_number(v, ",.0f")),
    ("wall time", "wall_s", fmt_duration),
    ("stop reason", "stop_reason", lambda v: "—" if v is None else str(v)),
)


# ---------------------------------------------------------------- sections


def _img(path: Path, alt: str, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(alt)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def _verdict(findings: dict[str, Any] | None) -> str:
    if findings is None:
        return '<p class="verdict unknown">not diagnosed (no findings.json)</p>'
    items = findings.get("findings") or []
    if not items:
        word = "healthy" if findings.get("healthy", True) else "unhealthy"
        return f'<p class="verdict {"healthy" if word == "healthy" else "findings"}">{word}</p>'
    kinds = ", ".join(dict.fromkeys(str(f.get("kind", "?")) for f in items))
    n = len(items)
    return f'<p class="verdict findings">{n} finding{"s" if n != 1 else ""}: {escape(kinds)}</p>'


def _metrics_table(summary: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr><th scope="row">{escape(label)}</th><td class="num">{escape(fmt(summary.get(key)))}</td></tr>'
        for label, key, fmt in METRIC_ROWS
    )
    return f'<table class="metrics"><tbody>{rows}</tbody></table>'


def _evidence(ev: Any) -> str:
    if isinstance(ev, dict):
        if not ev:
            return ""
        rows = "".join(
            f"<tr><th>{escape(str(k))}</th><td>{escape(_evidence_value(v))}</td></tr>" for k, v in ev.items()
        )
        return f'<table class="evidence"><tbody>{rows}</tbody></table>'
    if isinstance(ev, list):
        return "<ul>" + "".join(f"<li>{escape(_evidence_value(v))}</li>" for v in ev) + "</ul>" if ev else ""
    return f"<p>{escape(str(ev))}</p>" if ev not in (None, "") else ""


def _evidence_value(v: Any) -> str:
    """One evidence value as text: numbers to 4 significant figures, {layer: value} as 'layer: value, ...'."""
    if _num(v) is not None:
        return fmt_number(v)
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_evidence_value(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(_evidence_value(x) for x in v)
    return json.dumps(v, default=str)


def _finding(f: dict[str, Any]) -> str:
    severity = str(f.get("severity", "warning"))
    sev_class = re.sub(r"[^a-z0-9-]", "", severity.lower())
    layers = f.get("layers") or []
    parts = [
        f'<section class="finding sev-{sev_class}">',
        f'<h3><code>{escape(str(f.get("kind", "?")))}</code> <span class="badge">{escape(severity)}</span></h3>',
    ]
    if f.get("explanation"):
        parts.append(f"<p>{escape(str(f['explanation']))}</p>")
    if layers:
        names = ", ".join(f"<code>{escape(str(x))}</code>" for x in layers)
        parts.append(f"<p><strong>Layers:</strong> {names}</p>")
    ev = _evidence(f.get("evidence"))
    if ev:
        parts.append(f"<p><strong>Evidence</strong></p>{ev}")
    remedies = f.get("remedies") or []
    if remedies:
        items = "".join(
            (f"<li><code>{escape(format_patch(r['patch'] or {}))}</code>" if "patch" in r
             else f"<li>{escape(str(r.get('action', '')))}")
            + (f" — {escape(str(r['why']))}" if r.get("why") else "")
            + "</li>"
            for r in remedies
        )
        parts.append(f'<p><strong>Remedies</strong></p><ol class="remedies">{items}</ol>')
    parts.append("</section>")
    return "".join(parts)


def _findings_section(findings: dict[str, Any] | None, run_dir: Path) -> str:
    if findings is None:
        return _note("No findings.json: this run was not diagnosed.")
    items = findings.get("findings") or []
    if not items:
        return "<p>No findings: gradients and loss look healthy.</p>"
    rerun = f"aegrad train --config {shlex.quote(str(run_dir / CONFIG))}"
    intro = (
        f"<p>Each remedy is a config patch; rerun with it by appending it to "
        f"<code>{escape(rerun)}</code>.</p>"
    )
    return intro + "".join(_finding(f) for f in items)


def _figures(plots: Path, specs: tuple[tuple[str, str], ...]) -> str:
    return "".join(_img(plots / name, name, caption) for name, caption in specs if (plots / name).is_file())


# ---------------------------------------------------------------- the page


def _summary_from_metrics(metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """What an unfinished run's metrics.jsonl says about it (no summary.json was written)."""
    epochs = [r for r in metrics if r.get("kind") == "epoch"]
    if not epochs:
        return {}
    last = epochs[-1]
    return {"test_mse": last.get("test_mse"), "epochs": last.get("epoch"), "steps": last.get("step"),
            "wall_s": last.get("wall_s")}


def _why_no_gradients(path: Path) -> str:
    if not (path / GRADIENTS).exists():
        return f"{GRADIENTS} is missing (monitor.enabled was false)"
    if not read_records(path / GRADIENTS):
        return f"{GRADIENTS} holds no complete monitor window"
    return f"not drawn yet (run `aegrad report {path}`)"


def render_run_report(run_dir: str | Path) -> str:
    """The report's HTML text for one run directory (reads files; writes nothing)."""
    run = load_run(run_dir)
    path, plots = run.path, run.path / PLOTS
    summary = run.summary or _summary_from_metrics(run.metrics)
    findings = read_json(path / FINDINGS) if (path / FINDINGS).exists() else None
    config_text = (path / CONFIG).read_text(encoding="utf-8")
    name = path.resolve().name
    cfg_name = run.config.name

    losses = _figures(plots, ((LOSS_PNG, "Every logged loss term per optimizer step and epoch; the dashed line is "
                                         "the trivial MSE; vertical lines mark skipped steps and rollbacks."),
                              (LR_PNG, "Learning rate per optimizer step.")))
    grads = _figures(plots, GRADIENT_PNGS)
    if not grads:
        grads = _note(f"No gradient-flow plots: {_why_no_gradients(path)}.")
    recon = _figures(plots, ((RECONSTRUCTIONS_PNG, "Top: test inputs; bottom: reconstructions (data units)."),))
    generated = _figures(path, ((f"{SAMPLES}.png", "Samples from the prior p(z) = N(0, I), decoded."),
                                (f"{INTERPOLATION}.png", "The latent path between two test images, decoded.")))

    summary_note = "" if (path / SUMMARY).exists() else _note("No summary.json: the run did not finish.")
    sub = f"config: {cfg_name} · " if cfg_name else ""
    sub += f"data: {run.config.data.source} · model: {run.config.model.kind}"
    body = [
        f"<h1>{escape(name)}</h1>",
        f'<p class="sub">{escape(sub)}</p>',
        _verdict(findings),
        "<h2>Summary</h2>",
        summary_note,
        _metrics_table(summary),
        f"<details><summary>Config ({escape(CONFIG)})</summary><pre>{escape(config_text)}</pre></details>",
        "<h2>Loss</h2>",
        losses or _note("No loss plot: metrics.jsonl is missing or empty."),
        "<h2>Gradient flow</h2>",
        grads,
        "<h2>Findings</h2>",
        _findings_section(findings, path),
        "<h2>Reconstructions</h2>",
        recon or _note(f"No reconstructions: needs {RECONSTRUCTIONS} (written when training ends) of image data."),
        "<h2>Generation</h2>" if generated else "",
        generated,
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>aegrad report: {escape(name)}</title>"
        f"<style>{CSS}</style></head>\n"
        "<body><main>\n" + "\n".join(b for b in body if b) + "\n</main></body></html>\n"
    )


def write_run_report(run_dir: str | Path) -> Path:
    """Write RUN_DIR/report.html (self-contained: images inlined, no network, no JavaScript)."""
    out = Path(run_dir) / REPORT
    atomic_write_text(out, render_run_report(run_dir))
    return out


def write_report(path: str | Path) -> Path:
    """`aegrad report PATH`: a run directory gets its plots then report.html; a study folder its study report."""
    p = Path(path)
    if (p / CONFIG).is_file():
        write_plots(p)
        return write_run_report(p)
    if (p / RESULTS_JSON).is_file():
        return write_study_report(p)
    raise UserError(f"{p} is neither a run directory (no {CONFIG}) nor a study folder (no {RESULTS_JSON})")
