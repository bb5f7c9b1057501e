"""Pure functions from raw runs to the numbers in bench.json: medians, ratios, targets.

Everything here is arithmetic on plain dicts, so the smoke test can recompute it
from the same JSON and the table renderer never computes a number of its own.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.spec import (
    AEGRAD,
    AEGRAD_MONITOR_OFF,
    PEERS,
    TARGET_CEILING_FRACTION,
    TARGET_MONITOR_OVERHEAD_PCT,
    TARGET_SEED_WALL_S,
    TARGET_SPEEDUP_VS_FASTEST_PEER,
)


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One contestant's entry from its successful runs (each a worker result plus the parent's wall_s)."""
    return {
        "samples_per_s": spread([r["samples_per_s"] for r in runs]),
        "test_mse": statistics.median(r["test_mse"] for r in runs),
        "wall_s": statistics.median(r["wall_s"] for r in runs),  # whole process: start-up, data, train, eval
        "train_s": statistics.median(r["train_s"] for r in runs),  # training only
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),  # the largest of the runs' own peaks
        "runs": len(runs),
    }


def _sps(rt1: dict[str, Any], name: str) -> float | None:
    entry = rt1.get(name)
    return entry["samples_per_s"]["median"] if entry else None


def ratios(rt1: dict[str, Any]) -> dict[str, float]:
    """aegrad's median samples/s over each peer's that ran."""
    ours = _sps(rt1, AEGRAD)
    if ours is None:
        return {}
    return {f"aegrad_vs_{p}": ours / sps for p in PEERS if (sps := _sps(rt1, p))}


def monitor_overhead_pct(rt1: dict[str, Any]) -> float | None:
    """Extra training time with the monitor on, in percent: t_on / t_off - 1 = sps_off / sps_on - 1."""
    on, off = _sps(rt1, AEGRAD), _sps(rt1, AEGRAD_MONITOR_OFF)
    if on is None or off is None:
        return None
    return (off / on - 1.0) * 100.0


def _target(value: float | None, target: float, higher_is_better: bool, **more: Any) -> dict[str, Any]:
    met = None if value is None else (value >= target if higher_is_better else value <= target)
    return {"value": value, "target": target, "op": ">=" if higher_is_better else "<=", "met": met, **more}


def targets(
    rt1: dict[str, Any],
    ceiling_fraction: float | None,
    overhead_pct: float | None,
    seed_aegrad_wall_s: float | None,
) -> dict[str, dict[str, Any]]:
    """Each target with its measured value and met: true/false, or null when it could not be measured."""
    peers = [p for p in PEERS if p in rt1]
    fastest = max(peers, key=lambda p: rt1[p]["samples_per_s"]["median"], default=None)
    best = min(peers, key=lambda p: rt1[p]["test_mse"], default=None)
    ours = rt1.get(AEGRAD)
    speedup = ours["samples_per_s"]["median"] / rt1[fastest]["samples_per_s"]["median"] if ours and fastest else None
    peer_mse = rt1[best]["test_mse"] if best else None
    our_mse = ours["test_mse"] if ours else None
    mse_met = None if peer_mse is None or our_mse is None else our_mse <= peer_mse
    return {
        "speedup_vs_fastest_peer": _target(speedup, TARGET_SPEEDUP_VS_FASTEST_PEER, True, peer=fastest),
        "ceiling_fraction": _target(ceiling_fraction, TARGET_CEILING_FRACTION, True),
        "test_mse_vs_best_peer": {"value": our_mse, "target": peer_mse, "op": "<=", "met": mse_met, "peer": best},
        "monitor_overhead_pct": _target(overhead_pct, TARGET_MONITOR_OVERHEAD_PCT, False),
        "seed_reference_wall_s": _target(seed_aegrad_wall_s, TARGET_SEED_WALL_S, False),
    }
