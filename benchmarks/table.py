"""bench.json -> Markdown, for the terminal and for pasting into the README as is.

Only formats: every number comes from the JSON, so the README never holds a
number that a run did not produce.
"""

from __future__ import annotations

from typing import Any

from benchmarks.apps import app_tables
from benchmarks.spec import AEGRAD, AEGRAD_BF16, CONTESTANTS, PEERS


def _n(x: float | None, fmt: str = ",.0f", unit: str = "") -> str:
    return "—" if x is None else f"{x:{fmt}}{unit}"


def _vs_goal(t: dict[str, Any], decimals: int, unit: str = "", percent: bool = False) -> str:
    """A target's value with enough decimals (up to 4) that a miss never reads as the goal itself.

    1.2494x against a goal of 1.25x printed with two decimals reads "1.25x ... no";
    it is printed "1.249x".
    """
    value, target = t.get("value"), t["target"]
    if value is None:
        return "—"
    scale = 100.0 if percent else 1.0
    d = decimals
    while d < 4 and not t.get("met") and round(value * scale, d) == round(target * scale, d):
        d += 1
    return f"{value * scale:.{d}f}{'%' if percent else ''}{unit}"


def _met(t: dict[str, Any]) -> str:
    return {True: "yes", False: "no", None: "not measured"}[t.get("met")]


def _architecture(task: dict[str, Any]) -> str:
    sizes = [task["input_dim"], *task["widths"], task["latent"], *reversed(task["widths"]), task["input_dim"]]
    return "-".join(str(s) for s in sizes)


def rt1_table(res: dict[str, Any]) -> list[str]:
    rt1, ratios = res["rt1"], res["ratios"]
    lines = [
        "| contestant | samples/s, median (min–max) | test MSE | wall s | peak RSS MiB | aegrad ÷ it |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in CONTESTANTS:
        e = rt1.get(name)
        if e is None:
            continue
        sps = e["samples_per_s"]
        ratio = ratios.get(f"aegrad_vs_{name}")
        lines.append(
            f"| {name} | {_n(sps['median'])} ({_n(sps['min'])}–{_n(sps['max'])}) | {e['test_mse']:.5f} "
            f"| {e['wall_s']:.1f} | {e['peak_rss_mib']:.0f} | {_n(ratio, '.2f', '×')} |"
        )
    return lines


def _onednn_reading(res: dict[str, Any]) -> str:
    """The stricter reading against oneDNN's rate for the same product, when measured."""
    if res.get("matmul_onednn_gflops") is None or res.get("ceiling_fraction_onednn") is None:
        return ""
    return f" (of oneDNN's {res['matmul_onednn_gflops']:.1f}: {res['ceiling_fraction_onednn']:.0%})"


def _bf16_reading(res: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """aegrad in bf16 against the same fp32 ceiling, when it ran: a row with no goal (not a target)."""
    entry = res["rt1"].get(AEGRAD_BF16)
    if entry is None or res.get("ceiling_fraction_bf16") is None:
        return []
    value = (
        f"{res['aegrad_bf16_gflops']:.1f} of {_n(res['matmul_gflops'], '.1f')} GFLOP/s = "
        f"{res['ceiling_fraction_bf16']:.0%}, test MSE {entry['test_mse']:.5f}"
    )
    return [(f"the same with `train.precision: bf16` ({AEGRAD_BF16})", value, "not a target", "—")]


def targets_table(res: dict[str, Any]) -> list[str]:
    t = res["targets"]
    seed = res["seed_reference"]
    speed, mse = t["speedup_vs_fastest_peer"], t["test_mse_vs_best_peer"]
    tf_wall = seed.get("tensorflow_wall_s")
    seed_value = f"aegrad {_vs_goal(t['seed_reference_wall_s'], 2, ' s')}"
    if tf_wall is not None:
        seed_value += f", TensorFlow {tf_wall:.2f} s ({_n(seed.get('speedup'), '.1f', '×')} faster)"
    ceiling = t["ceiling_fraction"]
    rows = [
        (
            "throughput vs fastest peer" + (f" ({speed['peer']})" if speed.get("peer") else ""),
            _vs_goal(speed, 2, "×"),
            f"≥ {speed['target']:.2f}×",
            _met(speed),
        ),
        (
            "training FLOP/s vs fp32 matmul ceiling",
            f"{_n(res['aegrad_gflops'], '.1f')} of {_n(res['matmul_gflops'], '.1f')} GFLOP/s = "
            f"{_vs_goal(ceiling, 0, percent=True)}"
            + _onednn_reading(res),
            f"≥ {ceiling['target']:.0%}",
            _met(ceiling),
        ),
        *_bf16_reading(res),
        (
            "test MSE vs best peer" + (f" ({mse['peer']}: {mse['target']:.5f})" if mse.get("peer") else ""),
            _n(mse["value"], ".5f"),
            "≤ best peer",
            _met(mse),
        ),
        (
            "monitor overhead",
            _vs_goal(t["monitor_overhead_pct"], 1, " %"),
            f"≤ {t['monitor_overhead_pct']['target']:.0f} %",
            _met(t["monitor_overhead_pct"]),
        ),
        (
            "seed-reference, whole process",
            seed_value,
            f"≤ {t['seed_reference_wall_s']['target']:.0f} s",
            _met(t["seed_reference_wall_s"]),
        ),
    ]
    lines = ["| target | measured | goal | met |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return lines


def scaling_tables(res: dict[str, Any]) -> list[str]:
    sc = res.get("scaling") or {}
    if not sc:
        return []
    runs = sc.get("repeats", 1)
    each = f", median of {runs} runs interleaved over the points" if runs > 1 else ""
    lines = [f"Scaling (aegrad, monitor on, {sc['steps']} steps per point{each}):", ""]
    for key, label in (("batch_size", "batch size"), ("depth", "depth (× width)")):
        rate = "samples/s, median (min–max)" if runs > 1 else "samples/s"
        ceiling = "ceiling GFLOP/s (median, each just before its run)" if runs > 1 else "ceiling GFLOP/s (just before)"
        head = f"| {label} | {rate} | GFLOP/s | {ceiling} | of ceiling | peak RSS MiB |"
        lines += [head, "|---:|---:|---:|---:|---:|---:|"]
        for p in sc[key]:
            name = str(p[key]) + (f" × {p['width']}" if key == "depth" else "")
            if "error" in p:
                lines.append(f"| {name} | failed: {p['error']} | | | | |")
                continue
            rate = _n(p["samples_per_s"])
            if runs > 1 and "samples_per_s_min" in p:
                rate += f" ({_n(p['samples_per_s_min'])}–{_n(p['samples_per_s_max'])})"
            lines.append(
                f"| {name} | {rate} | {p['gflops']:.1f} | {_n(p.get('ceiling_gflops'), '.1f')} "
                f"| {_n(p['ceiling_fraction'], '.0%')} | {p['peak_rss_mib']:.0f} |"
            )
        lines.append("")
    return lines


def render(res: dict[str, Any]) -> str:
    task = res["settings"]["task"]
    versions = res["machine"]["versions"]
    load = res.get("load_avg_1min") or {}
    ran = ", ".join(f"{k} {v}" for k, v in versions.items() if v)
    quick = " (--quick: tiny, not a measurement)" if res["settings"]["quick"] else ""
    title = (
        f"RT1: Fashion-MNIST dense autoencoder {_architecture(task)}, ReLU, sigmoid output, MSE, "
        f"Adam {task['lr']:g}, batch {task['batch_size']}, {task['epochs']} epochs, "
        f"{task['threads']} threads, {res['settings']['repeats']} runs each, interleaved{quick}."
    )
    where = (
        f"Machine: {res['machine']['name']}; {ran}; {res['date']}; 1-min load average "
        f"{_n(load.get('start'), '.2f')} at start, {_n(load.get('end'), '.2f')} at end."
    )
    lines = [title, where, ""]
    if res["rt1"]:
        lines += rt1_table(res) + [""]
    lines += targets_table(res) + [""]
    lines += scaling_tables(res)
    lines += app_tables(res)
    notes = [f"- skipped {k}: {v}" for k, v in res.get("skipped", {}).items()]
    notes += [f"- failed {k}: {v}" for k, v in res.get("failed", {}).items()]
    if notes:
        lines += notes + [""]
    lines.append(
        "samples/s counts training time only; wall s is the whole process (start-up, data, training, "
        "evaluation); peak RSS is each run's own process. Peers: "
        + ", ".join(p for p in PEERS)
        + f"; aegrad = {AEGRAD} with its gradient monitor on."
    )
    return "\n".join(lines) + "\n"
