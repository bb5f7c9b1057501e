"""``doctor(cfg)``: probe the config, probe remedies in parallel within a budget, rank, prove.

Order of work: the baseline probe and its repeat with another seed (the probe-to-probe noise)
run first, side by side; their diagnosis names remedies; candidates (candidates.py) are then
probed in parallel processes, most promising first, each started only while the budget allows one
more probe (a probe's time is measured on the probes run so far, a process's first one — which pays
the imports — apart), so the answer comes within the budget plus one probe; then the best candidate is
joined with the other findings' remedies, and its learning rate refined by a line search (x3 and ÷3, then on
in the direction that improved while each step beats the last by the margin, at most LINE_STEPS steps);
when the best still does not train (at or above TRAINED_RATIO x trivial), it is joined with Adam and with the
other contenders (its rate line-searched again if one is better), and the best is then probed LONGER x as long;
last, the contenders (best first, at most CONFIRM_MAX) are rerun with the repeat's seed until one beats the
baseline in both seeds (rank.confirmed): that one wins. A run that does not train and got no confirmed winner is
tried LONGER x as long, its best contender and itself (candidates.last_resort), confirmed likewise; without a
confirmed winner the verdict is "no change". A probe's
length is set in batches by the config (probes.default_probe_epochs), so a loaded machine probes fewer
candidates, never shorter ones. With ``apply=True`` the winning patch trains the full run.
"""

from __future__ import annotations

import math
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from aegrad.config import Config, with_overrides
from aegrad.data import load_dataset
from aegrad.diagnose.findings import TRAINED_RATIO, undertrained_finding
from aegrad.doctor.candidates import (
    LINE_STEPS, LONGER, REFINE_FACTORS, candidates, combinations, last_resort, longer, lr_refinements, not_trained_yet,
    unique,
)
from aegrad.doctor.probes import ProbeResult, default_probe_epochs, probe_config, read_probe, run_probe
from aegrad.doctor.rank import (
    baseline_kind, confirmed, contenders, margin, noise, pick_winner, rank, scaled, undertrained_evidence,
)
from aegrad.errors import UserError
from aegrad.run import Run
from aegrad.study.runner import _pool, available_cores  # the study runner's pool

Progress = Callable[[ProbeResult], None]

# A probe is expected to take the slowest probe's training time x this, plus this many seconds
# (reading its data, writing its folder): a new probe starts only if it fits the budget.
ESTIMATE_FACTOR = 1.25
ESTIMATE_OVERHEAD_S = 1.0
# At most this many contenders are rerun with the repeat's seed, best first, until one is confirmed.
CONFIRM_MAX = 3


@dataclass
class DoctorResult:
    """What the doctor found, tried and recommends."""

    config: Config  # the user's config, as given
    baseline: ProbeResult  # the config as is, probed
    repeat: ProbeResult | None  # the baseline with seed + 1: the probe-to-probe noise
    noise: float | None  # |score(baseline) - score(repeat)| (None when one of them has no finite score)
    kind: str  # rank.baseline_kind: "healthy", "unstable" or "failing" (which seed-to-seed spread counts)
    margin: float  # how much lower a candidate's score must be, at the baseline's seed, to be a contender
    probes: list[ProbeResult]  # every candidate probed, best first
    skipped: list[tuple[str, dict[str, Any]]]  # candidates left unprobed for lack of budget
    confirms: list[ProbeResult]  # the contenders rerun with the repeat's seed, in the order tried
    winner: ProbeResult | None  # None: no contender beat the baseline in both seeds (or none was found)
    findings: dict[str, Any]  # the baseline probe's findings.json object (+ "undertrained" with its evidence)
    probe_epochs: int  # epochs per probe
    wall_s: float  # seconds the doctor took (without --apply's full run)
    budget_s: float  # the budget it was given
    applied: Run | None = None  # the full run trained with the winning patch (apply=True)
    extra: dict[str, Any] = field(default_factory=dict)  # room for callers' notes (benchmarks)

    @property
    def patch(self) -> dict[str, Any]:
        """The winning patch ({} for "no change")."""
        return dict(self.winner.patch) if self.winner else {}

    @property
    def patched_config(self) -> Config:
        return with_overrides(self.config, self.patch)

    @property
    def verdict(self) -> str:
        if self.winner is None:
            base = self.baseline.test_over_trivial
            if base >= TRAINED_RATIO:  # not "fine as it is": nothing found that does better
                state = f"{base:.3g}x trivial" if math.isfinite(base) else "diverged"
                return ("no change found: no remedy beats the configuration by more than the probe-to-probe noise in "
                        f"both seeds, and as it is it does not train ({state})")
            return "no change: no remedy beats the configuration by more than the probe-to-probe noise in both seeds"
        r = self.winner.test_over_trivial
        if r >= TRAINED_RATIO:  # better than the configuration, but not yet a run that trains
            return (f"use {self.winner.name} (the best found; it does not train yet: {r:.3g}x trivial, "
                    f"where a run that trains ends below {TRAINED_RATIO:g}x)")
        return f"use {self.winner.name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict, "patch": self.patch, "noise": self.noise, "kind": self.kind, "margin": self.margin,
            "probe_epochs": self.probe_epochs, "wall_s": round(self.wall_s, 2), "budget_s": self.budget_s,
            "baseline": self.baseline.to_dict(), "repeat": self.repeat.to_dict() if self.repeat else None,
            "probes": [p.to_dict() for p in self.probes], "confirms": [p.to_dict() for p in self.confirms],
            "winner": self.winner.name if self.winner else None,
            "skipped": [name for name, _ in self.skipped], "findings": self.findings,
            "applied": None if self.applied is None else {"run": str(self.applied.path), **{
                k: self.applied.summary.get(k) for k in ("test_mse", "trivial_mse", "test_over_trivial")}},
        }


class _Probes:
    """Runs probes in a process pool (jobs=1: in this process), each into its own folder."""

    def __init__(self, cfg: Config, root: Path, epochs: int, jobs: int, threads: int, progress: Progress):
        self.cfg, self.root, self.epochs, self.jobs, self.threads = cfg, root, epochs, jobs, threads
        self.progress = progress
        self.pool = _pool(jobs)
        self.running: dict[Future, tuple[ProbeResult, Path, float]] = {}
        self.durations: list[float] = []  # every probe's training time
        self.warm: list[float] = []  # those of probes that were not their process's first (no imports paid)
        self.pids: set[int] = set()
        self.count = 0

    def submit(self, result: ProbeResult, seed: int | None = None) -> None:
        self.count += 1
        run_dir = self.root / f"{self.count:02d}-{re.sub(r'[^A-Za-z0-9_.]+', '-', result.name)}"
        try:
            cfg = probe_config(self.cfg, result.patch, self.epochs * result.length, seed)
        except UserError as err:
            result.status, result.error = "failed", str(err)
            self.durations.append(0.0)
            self.progress(result)
            return
        cfg["train"]["threads"] = self.threads
        run_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()  # before submit: with jobs=1 the probe runs inside it
        fut = self.pool.submit(run_probe, cfg, str(run_dir), self.threads)
        self.running[fut] = (result, run_dir, t0)

    def collect(self) -> list[ProbeResult]:
        """Wait for at least one running probe; return those finished."""
        done, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
        out = []
        for fut in done:
            result, run_dir, t0 = self.running.pop(fut)
            try:
                outcome = fut.result()
            except Exception as err:  # noqa: BLE001 - a dead worker is a failed probe, reported as such
                outcome = {"status": "failed", "error": f"{type(err).__name__}: {err}"}
            result.wall_s = time.perf_counter() - t0
            # The training's own time; a process's first probe also pays its imports (seconds, against
            # a fraction of a second for a small probe), so it is kept apart from the estimate.
            took = float(outcome.get("wall_s", result.wall_s))
            self.durations.append(took)
            if outcome.get("pid") in self.pids:
                self.warm.append(took)
            self.pids.add(outcome.get("pid"))
            out.append(read_probe(result, run_dir, outcome))
            self.progress(result)
        return out

    def estimate(self) -> float:
        """Seconds one more probe is expected to take: the slowest warm training seen (else the slowest
        of all), with a margin."""
        seen = self.warm or self.durations
        return ESTIMATE_FACTOR * max(seen) + ESTIMATE_OVERHEAD_S if seen else math.inf

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _probe_baseline(probes: _Probes, cfg: Config, jobs: int, deadline: float) -> tuple[ProbeResult, ProbeResult]:
    """The baseline probe and its repeat with another seed (the probe-to-probe noise): side by side when
    two jobs run, else the repeat after the baseline if the budget still holds it."""
    baseline, repeat = ProbeResult("baseline", {}, source="baseline"), ProbeResult("noise", {}, source="baseline")
    probes.submit(baseline)
    if jobs > 1:
        probes.submit(repeat, seed=cfg.seed + 1)  # overlaps the baseline
    while probes.running:
        probes.collect()
    if jobs == 1 and time.perf_counter() < deadline:  # the one probe the answer may overrun by
        probes.submit(repeat, seed=cfg.seed + 1)
        while probes.running:
            probes.collect()
    return baseline, repeat


def _probe_candidates(
    probes: _Probes, queue: list[ProbeResult], jobs: int, deadline: float
) -> tuple[list[ProbeResult], list[ProbeResult]]:
    """(tried, skipped): candidates probed `jobs` at a time, each started only if it is expected to end in time."""
    tried: list[ProbeResult] = []
    skipped: list[ProbeResult] = []
    while queue or probes.running:
        while queue and len(probes.running) < jobs:
            if time.perf_counter() + probes.estimate() * queue[0].length > deadline:
                skipped.extend(queue)
                queue.clear()
                break
            nxt = queue.pop(0)
            probes.submit(nxt)
            if nxt.status == "failed":  # an invalid patch fails at once, without a process
                tried.append(nxt)
        if probes.running:
            tried.extend(probes.collect())
    return tried, skipped


def _refine(
    probes: _Probes, cfg: Config, baseline: ProbeResult, tried: list[ProbeResult], margin_: float,
    seen: list[dict[str, Any]], jobs: int, deadline: float,
) -> tuple[list[ProbeResult], list[ProbeResult]]:
    """(tried, skipped): the best candidate joined with the other findings' remedies, then rounds of the best
    one's learning rate x/÷ 3 while a round beats it by the margin."""
    best = pick_winner(baseline, rank(tried), margin_)
    if best is None:
        return [], []
    others = [(p.name, p.source, p.patch) for p in tried]
    pairs = unique(cfg, combinations((best.name, best.patch), others), seen)
    queue = [ProbeResult(n, p, source=s) for n, s, p in pairs]
    more, skipped = _probe_candidates(probes, queue, jobs, deadline)
    best = pick_winner(best, rank(more), scaled(margin_, baseline, best.test_over_trivial)) or best
    got, left = _line_search(probes, cfg, baseline, best, margin_, seen, jobs, deadline)
    return more + got, skipped + left


def _not_trained_yet(
    probes: _Probes, cfg: Config, baseline: ProbeResult, tried: list[ProbeResult], margin_: float,
    seen: list[dict[str, Any]], jobs: int, deadline: float,
) -> tuple[list[ProbeResult], list[ProbeResult]]:
    """(tried, skipped): when the best candidate so far does not train yet (at or above TRAINED_RATIO), it with Adam and
    joined with the other contenders (candidates.not_trained_yet), the learning rate of a better one line-searched;
    then, if the best still does not train, the best with LONGER x the epochs (one probe LONGER x as long)."""
    ranked = rank(tried)
    best = pick_winner(baseline, ranked, margin_)
    if best is None or best.test_over_trivial < TRAINED_RATIO:
        return [], []
    others = [(p.name, p.source, p.patch) for p in contenders(baseline, ranked, margin_) if p is not best]
    joined = not_trained_yet(cfg, (best.name, best.patch), others)
    queue = [ProbeResult(n, p, source=s) for n, s, p in unique(cfg, joined, seen)]
    got, skipped = _probe_candidates(probes, queue, jobs, deadline)
    step = pick_winner(best, rank(got), scaled(margin_, baseline, best.test_over_trivial))
    if step is not None:
        more, left = _line_search(probes, cfg, baseline, step, margin_, seen, jobs, deadline)
        got, skipped = got + more, skipped + left
    best = pick_winner(baseline, rank(tried + got), margin_) or best
    if best.test_over_trivial >= TRAINED_RATIO and best.length == 1:
        queue = [ProbeResult(n, p, source=s, length=LONGER)
                 for n, s, p in unique(cfg, [longer(cfg, best.name, best.patch)], seen)]
        more, left = _probe_candidates(probes, queue, jobs, deadline)
        got, skipped = got + more, skipped + left
    return got, skipped


def _lr(cfg: Config, p: ProbeResult) -> float:
    return float(p.patch.get("train.lr", cfg.train.lr))


def _line_search(
    probes: _Probes, cfg: Config, baseline: ProbeResult, best: ProbeResult, margin_: float,
    seen: list[dict[str, Any]], jobs: int, deadline: float,
) -> tuple[list[ProbeResult], list[ProbeResult]]:
    """(tried, skipped): the best candidate's learning rate as a line search: the first step probes x3 and ÷3,
    each later one x3 again in the direction that improved (÷3 likewise), while a step beats the last by the
    margin (scaled to its score) and the budget allows one more probe; at most LINE_STEPS steps."""
    tried: list[ProbeResult] = []
    skipped: list[ProbeResult] = []
    factors = REFINE_FACTORS
    for _ in range(LINE_STEPS):
        queue = [ProbeResult(n, p, source=s)
                 for n, s, p in unique(cfg, lr_refinements(cfg, best.name, best.patch, factors), seen)]
        got, left = _probe_candidates(probes, queue, jobs, deadline)
        tried, skipped = tried + got, skipped + left
        step = pick_winner(best, rank(got), scaled(margin_, baseline, best.test_over_trivial))
        if step is None:
            break
        factors = (3.0,) if _lr(cfg, step) > _lr(cfg, best) else (1 / 3,)
        best = step
    return tried, skipped


def _confirm(
    probes: _Probes, cfg: Config, baseline: ProbeResult, repeat: ProbeResult | None, order: list[ProbeResult],
    kind: str, jobs: int, deadline: float,
) -> tuple[ProbeResult | None, list[ProbeResult]]:
    """(winner, reruns): the contenders, best first, rerun with the repeat's seed (`jobs` at a time) until one
    beats the baseline in both seeds. The first round starts while the budget lasts (the answer may overrun by
    one probe) when its probes are of the usual length; later rounds, and a round with a longer probe, only if they
    fit. Without a repeat or the time to confirm, a failing baseline keeps the first contender (as probed) and a
    healthy one gets no change."""
    reruns: list[ProbeResult] = []
    order = order[:CONFIRM_MAX]
    while order and repeat is not None and repeat.status == "ok":
        length = max(p.length for p in order[:jobs])
        if time.perf_counter() + (probes.estimate() * length if reruns or length > 1 else 0.0) > deadline:
            break
        batch, order = order[:jobs], order[jobs:]
        round_ = [ProbeResult(f"{p.name} (seed + 1)", p.patch, source="confirm", length=p.length) for p in batch]
        for r in round_:
            probes.submit(r, seed=cfg.seed + 1)
        while probes.running:
            probes.collect()
        reruns += round_
        for p, r in zip(batch, round_):
            if confirmed(baseline, repeat, p, r, kind):
                return p, reruns
    if reruns or not order or kind == "healthy":
        return None, reruns
    return order[0], reruns


def _search(
    probes: _Probes, cfg: Config, baseline: ProbeResult, repeat: ProbeResult | None, findings: dict[str, Any],
    kind: str, margin_: float, jobs: int, deadline: float,
) -> tuple[list[ProbeResult], list[ProbeResult], ProbeResult | None, list[ProbeResult]]:
    """(ranked, skipped, winner, confirms): the candidates, their joins and line search, the stage for a best that does
    not train yet, the confirmation; then, for a baseline that does not train and got no confirmed winner, the last
    resort (candidates.last_resort: the best contender and the config itself LONGER x as long), confirmed likewise."""
    seen: list[dict[str, Any]] = []
    queue = [ProbeResult(n, p, source=s) for n, s, p in candidates(cfg, findings, seen)]
    tried, skipped = _probe_candidates(probes, queue, jobs, deadline)
    for stage in (_refine, _not_trained_yet):
        more, left = stage(probes, cfg, baseline, tried, margin_, seen, jobs, deadline)
        tried, skipped = tried + more, skipped + left
    order = contenders(baseline, rank(tried), margin_)
    winner, confirms = _confirm(probes, cfg, baseline, repeat, order, kind, jobs, deadline)
    if winner is None and baseline.test_over_trivial >= TRAINED_RATIO:
        slow_only = baseline.errors == 0 and math.isfinite(baseline.test_over_trivial)
        best = (order[0].name, order[0].patch) if order else None
        queue = [ProbeResult(n, p, source=s, length=LONGER)
                 for n, s, p in unique(cfg, last_resort(cfg, slow_only, best), seen)]
        more, left = _probe_candidates(probes, queue, jobs, deadline)
        tried, skipped = tried + more, skipped + left
        winner, again = _confirm(probes, cfg, baseline, repeat, contenders(baseline, rank(more), margin_), kind, jobs,
                                 deadline)
        confirms = confirms + again
    return rank(tried), skipped, winner, confirms


def _check_args(budget: float, jobs: int | None, probe_epochs: int | None) -> None:
    """One line for a budget, job count or probe length that cannot be."""
    if budget <= 0:
        raise UserError(f"--budget must be positive seconds, got {budget}")
    if jobs is not None and jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {jobs}")
    if probe_epochs is not None and probe_epochs < 1:
        raise UserError(f"--probe-epochs must be at least 1, got {probe_epochs}")


def _add_undertrained(findings: dict[str, Any], baseline: ProbeResult, ranked: list[ProbeResult], margin_: float,
                      epochs: int) -> None:
    """Add "undertrained" to the baseline's findings when a probe of the same architecture did much better."""
    shown = undertrained_evidence(baseline, ranked, margin_)
    if shown is not None:
        findings["findings"].append(undertrained_finding(
            baseline.test_over_trivial, shown.test_over_trivial, shown.patch, shown.name, epochs).to_dict())
        findings["healthy"] = False


def doctor(
    cfg: Config,
    budget: float = 120.0,
    jobs: int | None = None,
    probe_epochs: int | None = None,
    apply: bool = False,
    out: str | Path | None = None,
    progress: Progress | None = None,
) -> DoctorResult:
    """Probe `cfg` and remedies for it, rank them, and (apply=True) train the full run with the winner.

    budget: seconds for probing (the answer comes within budget + one probe); jobs: probes run
    side by side (default: the cores, at least 2 so the baseline and its repeat overlap);
    probe_epochs: epochs per probe (default the run's, or the whole epochs that fit
    probes.PROBE_MAX_BATCHES batches: fixed by the config, not by the machine's speed); out: keep the probe
    folders (and the applied run, in out/run) there instead of a temporary folder.
    """
    _check_args(budget, jobs, probe_epochs)
    t0 = time.perf_counter()
    progress = progress or (lambda _p: None)
    cores = available_cores()
    jobs = jobs or max(2, cores)
    # Never more threads per probe than this process was given (OMP_NUM_THREADS, torch.set_num_threads):
    # on a shared machine, two threads per small probe ran 8x slower than one (4.5 s against 0.54 s).
    threads = max(1, min(cores // jobs, torch.get_num_threads()))
    epochs = probe_epochs or default_probe_epochs(cfg, len(load_dataset(cfg.data, cfg.seed).train_x))
    root = Path(out) / "probes" if out is not None else Path(tempfile.mkdtemp(prefix="aegrad-doctor-"))
    root.mkdir(parents=True, exist_ok=True)
    probes = _Probes(cfg, root, epochs, jobs, threads, progress)
    deadline = t0 + budget
    try:
        baseline, repeat = _probe_baseline(probes, cfg, jobs, deadline)
        repeat = repeat if repeat.status != "pending" else None
        findings = {"healthy": not baseline.findings, "findings": list(baseline.findings)}
        noise_, kind = noise(baseline, repeat), baseline_kind(baseline, repeat)
        margin_ = margin(baseline, noise_, kind)
        ranked, skipped, winner, confirms = _search(probes, cfg, baseline, repeat, findings, kind, margin_, jobs,
                                                    deadline)
    finally:
        probes.close()
    _add_undertrained(findings, baseline, ranked, margin_, epochs)
    result = DoctorResult(
        config=cfg, baseline=baseline, repeat=repeat, noise=noise_, kind=kind, margin=margin_, probes=ranked,
        skipped=[(p.name, p.patch) for p in skipped], confirms=confirms, winner=winner, findings=findings,
        probe_epochs=epochs, wall_s=time.perf_counter() - t0, budget_s=budget,
    )
    if out is None:
        shutil.rmtree(root, ignore_errors=True)
    if apply:
        from aegrad.api import train

        run_dir = Path(out) / "run" if out is not None else None
        result.applied = train(result.patched_config, out=run_dir, report=out is not None)
    return result
