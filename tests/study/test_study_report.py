"""The study report and the gradient-health figures, from hand-written study folders."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aegrad.report.study import _Table, conclusions, write_study_report
from aegrad.study import grad_ratio, grad_ratios

# test/trivial by (bundle, depth): naive trains at depth 1 and 2, fails from 4 on; relu trains everywhere.
RATIOS = {("naive", 1): 0.5, ("naive", 2): 0.8, ("naive", 4): 1.0, ("relu", 1): 0.3, ("relu", 2): 0.3, ("relu", 4): 0.4}
GRAD_END = {"naive": 1e-6, "relu": 0.5}


def _record(step, rms):
    return {"step": step, "window_steps": 2, "layers": [f"l{i}" for i in range(len(rms))], "grad_rms": rms}


def test_grad_ratio_is_first_over_last_layer_rms():
    records = [_record(2, [1e-8, 1e-4, 1e-2]), _record(4, [2e-3, 1e-3, 1e-3])]
    assert grad_ratio(records[0]) == pytest.approx(1e-6)
    assert grad_ratios(records) == (pytest.approx(1e-6), pytest.approx(2.0))
    assert grad_ratios([]) == (None, None)
    assert grad_ratio(_record(2, [None, 1.0])) is None  # a non-finite window gives no ratio
    assert grad_ratio(_record(2, [1.0, 0.0])) is None


def _study(tmp_path: Path, failed: str | None = None) -> Path:
    study = tmp_path / "study"
    trials = []
    for bundle in ("naive", "relu"):
        for depth in (1, 2, 4):
            for seed in (0, 1):
                tid = f"{bundle}-depth{depth}-s{seed}"
                run = study / "trials" / tid
                run.mkdir(parents=True)
                r = RATIOS[(bundle, depth)] + 0.01 * seed
                lines = [{"kind": "epoch", "epoch": e, "step": 10 * e, "test_mse": 0.1 * (1 + r - e * 0.01)}
                         for e in (1, 2, 3)]
                (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
                ok = tid != failed
                trials.append({
                    "trial": tid, "kind": "trial", "bundle": bundle, "seed": seed, "grid": {"model.depth": depth},
                    "overrides": {"model.depth": depth}, "path": f"trials/{tid}", "status": "ok" if ok else "failed",
                    "metrics": {"test_mse": 0.1 * r, "trivial_mse": 0.1, "wall_s": 1.0} if ok else {},
                    "test_over_trivial": r if ok else None,
                    "grad_ratio_start": GRAD_END[bundle] * 10 if ok else None,
                    "grad_ratio_end": GRAD_END[bundle] / depth if ok else None,
                    "findings": ["vanishing_gradients"] if bundle == "naive" and ok else [],
                    "error": None if ok else "RuntimeError: boom",
                })
    doc = {"study": "fake", "description": "a fake study", "quick": False, "threshold": 0.9,
           "grid": {"model.depth": [1, 2, 4]},
           "bundles": {"naive": {"description": "sigmoid", "overrides": {"model.activation": "sigmoid"}},
                       "relu": {"overrides": {}}},
           "seeds": [0, 1], "metrics": ["test_mse", "trivial_mse", "wall_s"], "tuned": {}, "trials": trials}
    (study / "results.json").write_text(json.dumps(doc))
    sweep = {
        "chosen": {"naive": {"train.lr": 10.0}},
        "tunes": {"naive": {"key": "train.lr", "values": [1.0, 10.0], "at": {}, "metric": "test_mse"}},
        "trials": [
            {"trial": "naive-lr1", "bundle": "naive", "status": "ok", "tune_key": "train.lr", "tune_value": 1.0,
             "score": 0.1, "chosen": False, "test_over_trivial": 1.0},
            {"trial": "naive-lr10", "bundle": "naive", "status": "ok", "tune_key": "train.lr", "tune_value": 10.0,
             "score": 0.05, "chosen": True, "test_over_trivial": 0.5},
        ],
    }
    (study / "lr_sweep.json").write_text(json.dumps(sweep))
    return study


def test_conclusions_are_computed_from_the_numbers(tmp_path):
    study = _study(tmp_path)
    doc = json.loads((study / "results.json").read_text())
    sweep = json.loads((study / "lr_sweep.json").read_text())
    text = " ".join(conclusions(_Table(doc), sweep))
    assert "naive stops learning at model.depth 4 (test/trivial 1 ≥ 0.9)" in text
    assert "Bundles that train at every model.depth: relu." in text
    assert "Largest model.depth each bundle trains at: naive 2; relu 4." in text
    assert "At model.depth 4, best first (test/trivial): relu 0.405; naive 1." in text
    assert "vanishing) for: naive" in text
    assert "Values the sweep chose: naive 10" in text and "edge of the swept range for naive" in text


def test_report_is_self_contained_and_lists_every_trial(tmp_path):
    study = _study(tmp_path, failed="relu-depth4-s1")
    path = write_study_report(study)
    html = path.read_text()
    assert path == study / "report.html"
    doc = json.loads((study / "results.json").read_text())
    for t in doc["trials"]:
        assert t["trial"] in html
    assert "RuntimeError: boom" in html and "1 of 12 trials failed" in html
    assert len(re.findall(r'src="data:image/png;base64,', html)) >= 3
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from a network
    # the depth x bundle table: naive at depth 4 is red, relu at depth 4 green (its failed seed noted)
    assert re.search(r'<td class="num bad"[^>]*>1\.005</td>', html)
    assert re.search(r'<td class="num ok"[^>]*>0\.400 <small>\(1 failed\)</small></td>', html)
    assert "naive-lr10" in html


def test_report_of_a_non_study_folder_is_a_user_error(tmp_path):
    from aegrad.errors import UserError

    with pytest.raises(UserError, match="not a study directory"):
        write_study_report(tmp_path)
