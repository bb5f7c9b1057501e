"""Run a study: sweeps first, then every trial, in parallel processes, resumable.

The study folder's layout (and its file names) is in ``aegrad.study.layout``.

A trial is finished when its summary.json exists; rerunning a study skips those
(a killed study resumes), reruns the rest from scratch, and refuses a folder whose
finished trial was run with a different config. A trial that raises is recorded
as failed with its error on one line and the others go on.

Trials run in a spawn-context process pool, at most `jobs` at a time, each with
cores // jobs torch threads (``jobs=1`` runs them in this process). The queue is
ordered sweeps first, then the most expensive trials first, so the slowest
trial never starts last.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aegrad.config import Config, load_config, validate
from aegrad.errors import UserError
from aegrad.run import CONFIG, SUMMARY, atomic_write_text, write_json
from aegrad.study.layout import FAILED, SPEC, TRIALS, TUNE
from aegrad.study.results import trial_result, write_results
from aegrad.study.spec import Spec, Trial, base_dict, expand_trials, expand_tune_trials, resolve

Progress = Callable[[str], None]


@dataclass
class StudyResult:
    """A finished study: its folder, the spec it ran, one row per trial, the sweeps."""

    path: Path
    spec: Spec
    trials: list[dict[str, Any]]
    sweep: dict[str, Any] = field(default_factory=dict)
    report: Path | None = None

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.trials if r["status"] != "ok"]


def available_cores() -> int:
    """CPU cores this process may use (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_out(spec: Spec) -> Path:
    return Path("studies") / (f"{spec.name}-quick" if spec.quick_applied else spec.name)


def one_line(err: BaseException) -> str:
    """An exception as one line: a UserError's message as is, anything else prefixed by its type."""
    lines = str(err).strip().splitlines()
    text = lines[0] if lines else ""
    return text if isinstance(err, UserError) else f"{type(err).__name__}: {text}".rstrip(": ")


def execute_trial(cfg: dict[str, Any], run_dir: str, threads: int | None = None) -> dict[str, Any]:
    """Train one trial into `run_dir` (in a worker process); never raises for a failing trial."""
    t0 = time.perf_counter()
    try:
        if threads:
            import torch

            torch.set_num_threads(threads)
        from aegrad.api import train

        train(validate(cfg), out=run_dir, report=False)
        return {"status": "ok", "wall_s": time.perf_counter() - t0}
    except Exception as err:  # noqa: BLE001 - a failing trial is a result, recorded and reported
        error = one_line(err)
        write_json(Path(run_dir) / FAILED, {"error": error})
        return {"status": "failed", "error": error, "wall_s": time.perf_counter() - t0}


def _identity(cfg: dict[str, Any]) -> dict[str, Any]:
    """The config that decides a trial's result: everything but its thread count."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in cfg.items()}
    out.get("train", {}).pop("threads", None)
    return out


def _first_difference(a: Any, b: Any, key: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{key}.{k}" if key else k)
    return f"{key}: {a!r} there, {b!r} now"


def is_finished(run_dir: Path, cfg: Config) -> bool:
    """Whether a trial already ran to its summary with this config (another config is an error)."""
    if not (run_dir / SUMMARY).exists():
        return False
    old, new = _identity(load_config(path=run_dir / CONFIG).to_dict()), _identity(cfg.to_dict())
    if old != new:
        raise UserError(
            f"{run_dir} finished with another config ({_first_difference(old, new)}); "
            "use a new --out for a changed spec, or delete that trial folder"
        )
    return True


def _cost(cfg: Config) -> float:
    """A rough relative cost, only to start the slowest trials first."""
    samples = cfg.data.limit or 60000
    widths = cfg.model.hidden_widths() if cfg.model.kind == "mlp" else cfg.model.channels
    passes = cfg.train.epochs + (len(widths) + 1) * cfg.train.pretrain_epochs * (cfg.train.pretrain == "layerwise")
    return passes * samples * (sum(widths) + 1)


@dataclass
class _Job:
    trial: Trial
    run_dir: Path
    cfg: dict[str, Any]
    priority: tuple


class _InlinePool:
    """jobs=1: run each trial in this process when submitted (same interface as the pool).

    The caller's torch thread count is restored after each trial (training sets its own).
    """

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        import torch

        threads = torch.get_num_threads()
        fut: Future = Future()
        try:
            fut.set_result(fn(*args))
        finally:
            torch.set_num_threads(threads)
        return fut

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def _pool(jobs: int) -> ProcessPoolExecutor | _InlinePool:
    if jobs == 1:
        return _InlinePool()
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))


class _Runner:
    """Feeds ready trials to the pool, most urgent first, and hands each outcome to its callback."""

    def __init__(self, study_dir: Path, base: dict[str, Any], jobs: int, threads: int, total: int, progress: Progress):
        self.study_dir, self.base, self.jobs, self.threads = study_dir, base, jobs, threads
        self.total, self.done, self.progress = total, 0, progress
        self.ready: list[_Job] = []

    def add(self, trials: list[Trial], folder: str) -> list[Trial]:
        """Queue trials and return those queued (finished ones are skipped; invalid configs fail at once)."""
        queued = []
        for trial in trials:
            run_dir = self.study_dir / folder / trial.id
            try:
                cfg = resolve(self.base, trial)
            except UserError as err:
                self._reset(run_dir)
                write_json(run_dir / FAILED, {"error": str(err)})
                self._report(trial, {"status": "failed", "error": str(err)})
                continue
            if is_finished(run_dir, cfg):
                self._report(trial, {"status": "done"})
                continue
            cfg_dict = cfg.to_dict()
            if cfg.train.threads is None:  # a spec's own train.threads is kept; otherwise cores / jobs
                cfg_dict["train"]["threads"] = self.threads
            self.ready.append(_Job(trial, run_dir, cfg_dict, (trial.kind != "tune", -_cost(cfg))))
            queued.append(trial)
        return queued

    def _reset(self, run_dir: Path) -> None:
        # An unfinished trial folder (killed or failed before) is rerun from scratch.
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)

    def _report(self, trial: Trial, outcome: dict[str, Any]) -> None:
        self.done += 1
        status = outcome["status"]
        what = f"[{self.done}/{self.total}] {trial.kind} {trial.id}: "
        if status == "done":
            self.progress(what + "finished earlier, skipped")
        elif status == "failed":
            self.progress(what + f"FAILED: {outcome['error']}")
        else:
            self.progress(what + f"ok ({outcome['wall_s']:.1f} s)")

    def run(self, on_done: Callable[[Trial], None]) -> None:
        """Run every queued trial (and those `on_done` queues) to completion."""
        pool = _pool(self.jobs)
        running: dict[Future, _Job] = {}
        try:
            while self.ready or running:
                self.ready.sort(key=lambda j: j.priority)
                while self.ready and len(running) < self.jobs:
                    job = self.ready.pop(0)
                    self._reset(job.run_dir)
                    running[pool.submit(execute_trial, job.cfg, str(job.run_dir), job.cfg["train"]["threads"])] = job
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in finished:
                    job = running.pop(fut)
                    try:
                        outcome = fut.result()
                    except BrokenProcessPool:
                        # A worker died (killed, out of memory): this trial fails; the others in flight
                        # died with the pool and run again in a new one.
                        outcome = {"status": "failed", "error": "the worker process died (killed, or out of memory)"}
                        write_json(job.run_dir / FAILED, {"error": outcome["error"]})
                        pool.shutdown(wait=False, cancel_futures=True)
                        pool = _pool(self.jobs)
                        self.ready.extend(running.values())
                        running.clear()
                        self._report(job.trial, outcome)
                        on_done(job.trial)
                        break
                    self._report(job.trial, outcome)
                    on_done(job.trial)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _score(row: dict[str, Any], metric: str) -> float | None:
    if row["status"] != "ok":
        return None
    v = row["test_over_trivial"] if metric == "test_over_trivial" else row["metrics"].get(metric)
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def run_study(
    spec: Spec,
    out: str | Path | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
    report: bool = True,
) -> StudyResult:
    """Run (or resume) every trial of `spec` into `out` (default studies/<name>), then write results and report."""
    t0 = time.perf_counter()
    progress = progress or (lambda _msg: None)
    cores = available_cores()
    jobs = cores if jobs is None else jobs
    if jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {jobs}")
    study_dir = Path(out) if out is not None else default_out(spec)
    base = base_dict(spec)  # a bad base (unknown preset, missing config) is refused before the folder exists
    tune_trials = expand_tune_trials(spec)
    n_main = len(expand_trials(spec))
    if study_dir.exists() and not study_dir.is_dir():
        raise UserError(f"--out {study_dir} is a file, not a folder; pick a folder for the study")
    study_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(study_dir / SPEC, spec.to_yaml())
    total = n_main + sum(map(len, tune_trials.values()))
    jobs = min(jobs, total)
    threads = max(1, cores // jobs)
    progress(f"study {spec.name}: {total} trials ({n_main} + {total - n_main} sweep), {jobs} jobs x {threads} threads")

    runner = _Runner(study_dir, base, jobs, threads, total, progress)
    sweeps = _Sweeps(spec, study_dir, runner, tune_trials, progress)
    sweeps.start()
    runner.add([t for t in expand_trials(spec) if t.bundle not in sweeps.tunes], TRIALS)
    runner.run(sweeps.on_done)

    trials = expand_trials(spec, sweeps.chosen)
    rows = [trial_result(t, study_dir / TRIALS / t.id, study_dir, spec.metrics) for t in trials]
    order = list(spec.bundles)
    sweeps.rows.sort(key=lambda r: order.index(r["bundle"]))
    tunes = {b: t.model_dump(mode="json") for b, t in sweeps.tunes.items()}
    sweep = {"chosen": sweeps.chosen, "tunes": tunes, "trials": sweeps.rows}
    write_results(study_dir, spec, rows, sweep, run_s=time.perf_counter() - t0)
    result = StudyResult(path=study_dir, spec=spec, trials=rows, sweep=sweep)
    if report:
        from aegrad.report.study import write_study_report

        result.report = write_study_report(study_dir)
    n_failed = len(result.failed)
    progress(f"study {spec.name}: {len(rows) - n_failed} ok, {n_failed} failed -> {study_dir}")
    return result


class _Sweeps:
    """The tune sweeps of a study: when a bundle's sweep trials are all done, pick the best value and queue
    its trials."""

    def __init__(self, spec: Spec, study_dir: Path, runner: _Runner, tune_trials: dict, progress: Progress) -> None:
        self.spec, self.study_dir, self.runner, self.progress = spec, study_dir, runner, progress
        self.tunes = spec.tunes()
        self.tune_trials = tune_trials
        self.chosen: dict[str, dict[str, Any]] = {}
        self.rows: list[dict[str, Any]] = []
        self.waiting: dict[str, set[str]] = {}

    def start(self) -> None:
        """Queue every sweep trial; close at once any sweep whose values all finished earlier (or failed at once)."""
        for sweep, trials in self.tune_trials.items():
            self.waiting[sweep] = {t.id for t in self.runner.add(trials, TUNE)}
            if not self.waiting[sweep]:
                self.close(sweep)

    def on_done(self, trial: Trial) -> None:
        if trial.kind == "tune":
            self.waiting[trial.sweep].discard(trial.id)
            if not self.waiting[trial.sweep]:
                self.close(trial.sweep)

    def close(self, sweep: str) -> None:
        """Pick sweep `sweep`'s best value (a bundle's, or a bundle's at one grid point) and queue its trials."""
        bundle = self.tune_trials[sweep][0].bundle
        tune, spec = self.tunes[bundle], self.spec
        rows = [trial_result(t, self.study_dir / TUNE / t.id, self.study_dir, spec.metrics)
                for t in self.tune_trials[sweep]]
        scored = [(s, r) for r in rows if (s := _score(r, tune.metric)) is not None]
        best = min(scored, key=lambda sr: sr[0])[1] if scored else None
        for r in rows:
            r.update(tune_key=tune.key, score=_score(r, tune.metric), chosen=r is best)
        self.rows.extend(rows)
        if best is not None:
            self.chosen[sweep] = {tune.key: best["tune_value"]}
            self.progress(f"sweep {sweep}: {tune.key}={best['tune_value']!r} ({tune.metric} {best['score']:.4g})")
        else:
            self.progress(f"sweep {sweep}: no value trained; keeping the bundle's own {tune.key}")
        self.runner.add([t for t in expand_trials(spec, self.chosen) if t.sweep == sweep], TRIALS)
