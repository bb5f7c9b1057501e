"""Detectors: the monitor's window records (and the loss against the trivial baseline) → findings.

``diagnose(records, ...)`` is a pure function over gradients.jsonl records (monitor.py documents
the format); it runs every registered detector (these, and the families' own: catalogue.py) and returns the
findings.json object, each finding a ``catalogue.Finding``'s ``to_dict()``::

    {"healthy": bool,
     "findings": [{"kind": "vanishing_gradient" | "exploding_gradient" | "dead_units" |
                           "saturation" | "stalled_loss" | "update_ratio" |
                           "oversize_update" | "undertrained" | ...,            # kinds.Kind
                   "severity": "warning" | "error",                             # kinds.Severity
                   "layers": [...],            # parameterised layers or activation modules involved
                   "evidence": {...},          # the numbers that triggered it
                   "explanation": "...",
                   "remedies": [{"patch": {"model.activation": "leaky_relu"}, "why": "...", "name": "..."}]}]}

With ``patches=False`` (a model aegrad did not build) each remedy holds ``"action"``, the
patch in words ("use LeakyReLU (torch.nn.LeakyReLU) as the hidden activation"), instead of ``"patch"``.

A verdict joins gradient evidence to the loss measured against the trivial baseline (predicting
the training mean): vanishing gradients, a learning rate too small, and depth that hurts with
healthy gradients are different findings. "Sustained" means: true in at least half of the
windows of the second half of the run (early transients — Adam's large first updates, a
sigmoid net's first windows before it recovers — are not findings).

Thresholds are named constants below, each with its source and the measurements that placed it
(Fashion-MNIST 3000-sample subset and scikit-learn digits, batch 128/64, CPU; "first/last" is
the first parameterised layer's gradient RMS over the last one's); the stalled-loss line,
STALL_FRACTION, sits in view.py with ``RunView.stalled``, which every detector asks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from aegrad.diagnose import remedies as _remedies  # noqa: F401  (registers the gradient-health remedies)
from aegrad.diagnose.catalogue import DETECTORS, Finding, detector, sig
from aegrad.diagnose.kinds import Kind, Severity, Target
from aegrad.diagnose.patches import describe_patch, format_patch
from aegrad.diagnose.view import RunView, as_float, sustained
from aegrad.models.activations import DYING_UNITS, SATURATING_UNITS, UNBOUNDED_UNITS

# Vanishing: first/last gradient RMS below this ("orders of magnitude"; Glorot & Bengio 2010,
# Fig. 7, show gradients shrinking toward the input in sigmoid/tanh nets). Measured failures:
# sigmoid + default init + SGD ≈ 3e-4, 1e-7, 2e-14 at 2, 4, 8 hidden layers per side (×0.14 per
# layer, from the first step); tanh/xavier at depth 16, lr 1.0 decays to 1.6e-4 as it fails.
# Healthy: relu/kaiming/Adam 0.6–3.8 at every depth, a conv AE 0.4–1.2, tanh/xavier 0.15–3.
VANISH_RATIO = 1e-2

# Dead ReLU units, measured per sampled batch (a unit silent for every sample). Healthy relu
# nets reach 0.45 (digits preset, batch 64) and 0.42 (conv AE decoder); bias −5: 1.0. Dying
# ReLUs: Maas et al. 2013; Lu et al. 2019.
DEAD_WARN = 0.7
DEAD_ERROR = 0.95

# Saturated sigmoid/tanh unit values (within 1% of a bound). Healthy: tanh/xavier ≤ 0.37,
# sigmoid/xavier/Adam ≤ 0.11; inputs ×100 saturate the first sigmoid layer at 0.82 from the first
# window and 1.0 later (Glorot & Bengio 2010 §3.1: saturated top hidden layer stalls learning).
SATURATION_WARN = 0.5
SATURATION_ERROR = 0.9
# An output activation is judged only when the loss is stalled: a reconstruction's sigmoid
# legitimately sits near 0 on background pixels (0.18–0.36 measured on healthy runs), while a
# net with ×20 init pins it at 1.0.
OUTPUT_SATURATION = 0.9

# Exploding: any non-finite gradient or loss; gradient norm growing this much over the run
# (healthy runs never exceeded 5× the first window); one update as large as the weights
# (update ratio ≥ 1: Adam at lr 1.0 measured 2–7, diverging SGD 2–1e10, a learning SGD lr 10
# run ≤ 0.24); hidden ReLU-family activations growing this much with depth (×20 init: 2.5e5;
# healthy ≤ 15).
EXPLODE_GROWTH = 1e2
EXPLODE_UPDATE_RATIO = 1.0
ACTIVATION_GROWTH = 1e3

# Oversize updates: a step as large as the weights (update ratio ≥ EXPLODE_UPDATE_RATIO)
# while the gradient norm does not grow is the learning rate's doing, not an exploding gradient. A
# divergence (non-finite loss) counts as exploding only when the gradient norm grew at least
# DIVERGE_GROWTH over the first window's before it; a divergence with flatter gradients and huge
# steps stays an exploding-gradient finding (the loss blew up) whose first remedies are the learning rate's.
DIVERGE_GROWTH = 10.0
# Dead or saturated units are blamed on the learning rate when units that were alive at the first
# (pre-update) sample die after an update at least this large (300x the healthy ~1e-3).
LR_CAUSE_UPDATE_RATIO = 0.3

# Undertrained: a run that did not train (test/trivial at or above TRAINED_RATIO, the line the project
# calls "trains": test MSE < 0.5 x the trivial MSE) while the doctor showed a patch of the same
# architecture training (below that line) or reaching at most UNDERTRAINED_SHARE of the run's ratio.
# A run that trains is not called undertrained, however much lower another rate goes: a short probe's
# favourite (often a 10x rate) is no evidence that the run as configured is broken.
TRAINED_RATIO = 0.5
UNDERTRAINED_SHARE = 0.5


def is_undertrained(own: float, reached: float) -> bool:
    """Whether a run ending at `own` x the trivial MSE is undertrained, given a same-architecture `reached`."""
    return own >= TRAINED_RATIO and (reached < TRAINED_RATIO or reached <= UNDERTRAINED_SHARE * own)

# Update-to-weight ratio ‖ΔW‖/‖W‖ per step: ~1e-3 trains well (Karpathy, CS231n notes, "ratio of
# weights:updates"); flagged when sustained 100× away. Healthy Adam runs measured 6.7e-4–2.4e-2.
UPDATE_RATIO_LOW = 1e-5
UPDATE_RATIO_HIGH = 1e-1

# Without a trivial baseline, the loss is "not improving" when the last window's mean loss is
# within 1% of the first window's, over at least this many windows.
STALL_MIN_WINDOWS = 4
STALL_MIN_IMPROVEMENT = 0.01

def vanishing_evidence(view: RunView) -> dict[str, Any] | None:
    """Gradient-side vanishing test (sustained first/last RMS ratio below VANISH_RATIO), loss aside."""
    ratio = view.first_last_ratio()
    valid = [float(x) for x in ratio if math.isfinite(x)]
    if not valid or not sustained([x < VANISH_RATIO for x in valid]):
        return None
    tail = valid[len(valid) // 2 :]
    med = float(np.median(tail))
    w = max(i for i in range(view.windows) if math.isfinite(ratio[i]))
    last_rms = view.rms[w]
    layers = [n for n, g in zip(view.layers, last_rms) if math.isfinite(g) and g < VANISH_RATIO * last_rms[-1]]
    per_layer = med ** (1.0 / (len(view.layers) - 1)) if med > 0 else 0.0
    return {
        "first_last_rms_ratio": sig(med),
        "per_layer_factor": sig(per_layer),
        "first_layer_rms": sig(float(last_rms[0])),
        "last_layer_rms": sig(float(last_rms[-1])),
        "windows_below": f"{sum(x < VANISH_RATIO for x in tail)}/{len(tail)}",
        "layers": layers,
    }


# -- detectors ------------------------------------------------------------------------------


def _growth(view: RunView) -> tuple[list[str], dict[str, Any], set[str], bool]:
    """Evidence that gradients or activations blow up: (reasons, evidence, layers, diverged)."""
    evidence: dict[str, Any] = {}
    layers: set[str] = set()
    reasons: list[str] = []
    hard = False

    peak = np.nanmax(np.where(np.isfinite(view.norm_mean), view.norm_mean, np.nan), axis=1, initial=-np.inf)
    peak = [float(p) for p in peak if math.isfinite(p)]
    nonfinite = sum(view.nonfinite)
    if nonfinite:
        first = next(i for i, n in enumerate(view.nonfinite) if n)
        # the largest gradient norm seen up to the divergence, over the first window's
        top = np.where(np.isfinite(view.norm_max[: first + 1]), view.norm_max[: first + 1], np.nan)
        pre = float(np.nanmax(top)) if np.isfinite(top).any() else math.inf
        growth = pre / peak[0] if peak and peak[0] > 0 else math.inf
        evidence["nonfinite_steps"] = nonfinite
        evidence["first_nonfinite_window_step"] = view.steps[first]
        layers.update(n for j, n in enumerate(view.layers) if not np.isfinite(view.norm_max[first, j]))
        reasons.append(f"{nonfinite} steps had a non-finite gradient or loss: the run diverged")
        if math.isfinite(growth):
            evidence["grad_norm_growth_before_divergence"] = sig(growth)
        hard = True

    if len(peak) >= 2:
        head, tail = float(np.median(peak[: len(peak) // 2])), float(np.median(peak[len(peak) // 2 :]))
        growth = tail / head if head > 0 else 0.0
        if growth >= EXPLODE_GROWTH:
            evidence["grad_norm_growth"] = sig(growth)
            reasons.append(
                f"the largest layer gradient norm grew {growth:.0e}x from the first half of the run to the second"
            )

    growth_flags, growth_vals, growth_acts = [], [], []
    for acts in view.activation_windows():
        hidden = [(n, a) for n, a in acts.items() if a["family"] in UNBOUNDED_UNITS and not a.get("output")]
        scale = [(n, math.hypot(as_float(a["mean"]), as_float(a["std"])), as_float(a["dead"])) for n, a in hidden]
        scale = [(n, s, d) for n, s, d in scale if math.isfinite(s)]
        if len(scale) < 2 or not scale[0][1] > 0 or scale[0][2] >= 0.9:
            continue
        top = max(scale[1:], key=lambda t: t[1])
        g = top[1] / scale[0][1]
        growth_flags.append(g >= ACTIVATION_GROWTH)
        growth_vals.append(g)
        growth_acts.append(top[0])
    # Growth absent at the first (pre-update) sample, after steps as large as the weights: the steps
    # blew the weights up (oversize updates, the learning rate), not the initialisation.
    after_steps = bool(growth_flags) and not growth_flags[0] and bool(_max_update(view)[0])
    if sustained(growth_flags) and not after_steps:
        g = float(np.median(growth_vals[len(growth_vals) // 2 :]))
        evidence["activation_growth"] = sig(g)
        layers.update(a for a, f in zip(growth_acts, growth_flags) if f)
        reasons.append(
            f"hidden activations grow {g:.0e}x from the first hidden layer to the deepest: each layer "
            "multiplies the signal by more than 1 (initial weights too large?)"
        )
    return reasons, evidence, layers, hard


def _max_update(view: RunView) -> tuple[list[str], float]:
    """Layers with an update of at least EXPLODE_UPDATE_RATIO of their weights, and the largest ratio."""
    with np.errstate(invalid="ignore"):
        big = np.nanmax(view.update, axis=0, initial=-np.inf) if view.update.size else np.array([])
    over = [n for n, u in zip(view.layers, big) if math.isfinite(u) and u >= EXPLODE_UPDATE_RATIO]
    finite = big[np.isfinite(big)] if big.size else big
    return over, float(np.max(finite)) if finite.size else math.nan


def _ordered(view: RunView, layers: set[str]) -> list[str]:
    return list(dict.fromkeys(n for n in [*view.layers, *sorted(layers)] if n in layers))


@detector(Kind.EXPLODING_GRADIENT, order=0, every_window=True)
def detect_exploding(view: RunView) -> list[Finding]:
    reasons, evidence, layers, hard = _growth(view)
    if not reasons:
        return []  # huge steps with flat gradients are oversize updates (detect_oversize_update)
    over, top_ratio = _max_update(view)
    if over:
        evidence["max_update_ratio"] = sig(top_ratio)
        layers.update(over)
    # A divergence with flat gradients and huge steps: the steps (the learning rate) caused it.
    by_lr = bool(over) and evidence.get("grad_norm_growth_before_divergence", math.inf) < DIVERGE_GROWTH
    if by_lr:
        reasons.append(
            f"before it, the gradient norm grew only {evidence['grad_norm_growth_before_divergence']:.2g}x while "
            f"single steps moved weights by up to {top_ratio:.2g}x their size: the learning rate, not the gradients, "
            "drove it"
        )
    stalled = view.stalled()
    severity = Severity.ERROR if hard or stalled else Severity.WARNING
    evidence.update(view.loss_evidence())
    windows = view.activation_windows()
    pinned = bool(windows) and any(
        a.get("output") and as_float(a.get("saturated")) >= OUTPUT_SATURATION for a in windows[-1].values()
    )
    explanation = "Gradients or activations blow up: " + "; ".join(reasons) + "."
    if pinned:
        explanation += " The bounded output is pinned at its limits, so the gradient vanishes instead of exploding."
    causes = (Target.OVERSIZE_UPDATE,) if by_lr else ()
    remedies = view.remedies(*causes, Target.EXPLODING_GRADIENT)
    return [Finding(Kind.EXPLODING_GRADIENT, severity, _ordered(view, layers), evidence, explanation, remedies)]


@detector(Kind.OVERSIZE_UPDATE, order=0, superseded_by=(Kind.EXPLODING_GRADIENT,), every_window=True)
def detect_oversize_update(view: RunView) -> list[Finding]:
    over, top_ratio = _max_update(view)
    if not over:
        return []
    evidence: dict[str, Any] = {"max_update_ratio": sig(top_ratio)}
    peak = view.norm_max[np.isfinite(view.norm_max)]
    first = view.norm_mean[0][np.isfinite(view.norm_mean[0])] if view.windows else np.array([])
    if peak.size and first.size and first.max() > 0:
        evidence["grad_norm_growth"] = sig(float(peak.max() / first.max()))
    diverged = sum(view.nonfinite)
    if diverged:
        evidence["nonfinite_steps"] = diverged
    stalled = view.stalled()
    evidence.update(view.loss_evidence())
    lr = view.cfg.train.lr
    explanation = (
        f"Single optimizer steps moved these layers' weights by up to {top_ratio:.2g}x their own size "
        "(~1e-3 trains well) while the gradient norm did not grow: not an exploding gradient, the steps are "
        f"too large — the learning rate{f' ({lr:g})' if lr is not None else ''} is the cause"
        + (", and the run diverged." if diverged else ".")
    )
    severity = Severity.ERROR if diverged or stalled else Severity.WARNING
    return [Finding(Kind.OVERSIZE_UPDATE, severity, over, evidence, explanation, view.remedies(Target.OVERSIZE_UPDATE))]


def _lr_caused(view: RunView, field: str, names: list[str], warn: float) -> float | None:
    """The largest update ratio, when units of `names` that were fine at the first (pre-update) sample
    went bad after an update of at least LR_CAUSE_UPDATE_RATIO of the weights; else None."""
    windows = view.activation_windows()
    if not windows or not names:
        return None
    first = windows[0]
    if any(as_float(first.get(n, {}).get(field)) >= warn for n in names):
        return None  # bad before any update: the init, the bias or the inputs, not the steps
    top = _max_update(view)[1]
    return top if math.isfinite(top) and top >= LR_CAUSE_UPDATE_RATIO else None


def _unit_detector(
    view: RunView, field: str, families: tuple[str, ...], warn: float, error: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Per hidden activation: (sustained tail median of `field`, max) for those sustained ≥ warn."""
    windows = view.activation_windows()
    names = [n for n, a in (windows[-1].items() if windows else []) if a["family"] in families and not a.get("output")]
    hit: dict[str, float] = {}
    for n in names:
        vals = [as_float(w[n][field]) for w in windows if n in w]
        vals = [v for v in vals if math.isfinite(v)]
        if vals and sustained([v >= warn for v in vals]):
            hit[n] = float(np.median(vals[len(vals) // 2 :]))
    severe = {n: v for n, v in hit.items() if v >= error}
    return hit, severe


@detector(Kind.DEAD_UNITS, order=1)
def detect_dead(view: RunView) -> list[Finding]:
    hit, severe = _unit_detector(view, "dead", DYING_UNITS, DEAD_WARN, DEAD_ERROR)
    if not hit:
        return []
    stalled = view.stalled()
    severity = Severity.ERROR if severe or stalled else Severity.WARNING
    worst = max(hit.values())
    evidence = {"dead_fraction": {n: sig(v) for n, v in hit.items()}, "worst": sig(worst)}
    zero = [n for j, n in enumerate(view.layers) if view.windows and np.all(view.norm_max[view.windows // 2 :, j] == 0)]
    if zero:
        evidence["layers_without_gradient"] = zero
    evidence.update(view.loss_evidence())
    explanation = (
        f"Up to {worst:.0%} of the ReLU units in {len(hit)} layer(s) output 0 for every sample of a batch: "
        "a dead unit has zero gradient, so it never recovers, and the layers around it stop learning."
    )
    by_lr = _lr_caused(view, "dead", list(hit), DEAD_WARN)
    if by_lr is not None:
        evidence["max_update_ratio"] = sig(by_lr)
        explanation += (f" The units were alive before training and died after steps up to {by_lr:.2g}x the "
                        "weights' size: the learning rate killed them, so lower it first.")
    causes = (Target.OVERSIZE_UPDATE,) if by_lr is not None else ()
    remedies = view.remedies(*causes, Target.DEAD_UNITS)
    return [Finding(Kind.DEAD_UNITS, severity, list(hit), evidence, explanation, remedies)]


@detector(Kind.SATURATION, order=2)
def detect_saturation(view: RunView) -> list[Finding]:
    hit, severe = _unit_detector(view, "saturated", SATURATING_UNITS, SATURATION_WARN, SATURATION_ERROR)
    stalled = view.stalled()
    windows = view.activation_windows()
    if stalled and windows:
        for n, a in windows[-1].items():
            if a.get("output") and a["family"] in SATURATING_UNITS:
                vals = [as_float(w[n]["saturated"]) for w in windows if n in w]
                vals = [v for v in vals if math.isfinite(v)]
                if vals and sustained([v >= OUTPUT_SATURATION for v in vals]):
                    hit[n] = severe[n] = float(np.median(vals[len(vals) // 2 :]))
    if not hit:
        return []
    severity = Severity.ERROR if severe or stalled else Severity.WARNING
    worst = max(hit.values())
    evidence = {"saturated_fraction": {n: sig(v) for n, v in hit.items()}, "worst": sig(worst)}
    # Input scale is the suspect only when the first hidden layer is the one saturated.
    hidden = [n for n, a in windows[-1].items() if not a.get("output")] if windows else []
    exclude = () if hidden and hidden[0] in hit else ("normalize_inputs",)
    evidence.update(view.loss_evidence())
    explanation = (
        f"Up to {worst:.0%} of the sigmoid/tanh unit values sit within 1% of a bound, where the derivative "
        "is nearly 0: gradients through these units vanish (Glorot & Bengio 2010). Large inputs or weights "
        "push pre-activations there."
    )
    by_lr = _lr_caused(view, "saturated", list(hit), SATURATION_WARN)
    if by_lr is not None:
        evidence["max_update_ratio"] = sig(by_lr)
        explanation += (f" Here the units were unsaturated before training and saturated after steps up to "
                        f"{by_lr:.2g}x the weights' size: the learning rate pushed them there, so lower it first.")
    causes = (Target.OVERSIZE_UPDATE,) if by_lr is not None else ()
    remedies = view.remedies(*causes, Target.SATURATION, exclude=exclude)
    return [Finding(Kind.SATURATION, severity, list(hit), evidence, explanation, remedies)]


@detector(Kind.VANISHING_GRADIENT, order=3)
def detect_vanishing(view: RunView) -> list[Finding]:
    ev = vanishing_evidence(view)
    stalled = view.stalled()
    if ev is None or stalled is False:
        return []
    layers = ev.pop("layers")
    ev.update(view.loss_evidence())
    explanation = (
        f"The first layer's gradient RMS is {ev['first_last_rms_ratio']:.0e} of the last layer's "
        f"(x{ev['per_layer_factor']:.2g} per layer): the early layers barely learn"
        + (
            ", and the loss stays at the trivial baseline (predicting the mean)."
            if stalled
            else "; no trivial baseline was given to tell whether the loss suffers."
        )
    )
    severity = Severity.ERROR if stalled else Severity.WARNING
    remedies = view.remedies(Target.VANISHING_GRADIENT)
    return [Finding(Kind.VANISHING_GRADIENT, severity, layers, ev, explanation, remedies)]


@detector(
    Kind.STALLED_LOSS,
    order=4,
    superseded_by=(Kind.EXPLODING_GRADIENT, Kind.OVERSIZE_UPDATE, Kind.DEAD_UNITS, Kind.SATURATION,
                   Kind.VANISHING_GRADIENT),
)
def detect_stalled(view: RunView) -> list[Finding]:
    stalled = view.stalled()
    evidence = view.loss_evidence()
    finite = view.loss[np.isfinite(view.loss)]
    if stalled is None:
        if finite.size < STALL_MIN_WINDOWS or not finite[0] > 0:
            return []
        improvement = 1.0 - float(finite[-1]) / float(finite[0])
        if improvement >= STALL_MIN_IMPROVEMENT:
            return []
        evidence["loss_improvement"] = sig(improvement)
    elif not stalled:
        return []
    if finite.size:
        evidence["loss_first_window"] = sig(float(finite[0]))
        evidence["loss_last_window"] = sig(float(finite[-1]))
    ratio = view.first_last_ratio()
    valid = ratio[np.isfinite(ratio)]
    if valid.size:
        evidence["first_last_rms_ratio"] = sig(float(np.median(valid[valid.size // 2 :])))
    upd = _tail_median(view.update)
    med_update = float(np.nanmedian(upd)) if np.isfinite(upd).any() else math.nan
    if math.isfinite(med_update):
        evidence["median_update_ratio"] = sig(med_update)
    slow = math.isfinite(med_update) and med_update < 1e-3 / 3
    explanation = (
        "The loss does not get below the trivial baseline (predicting the mean) although the gradients reach "
        "every layer — not a vanishing gradient. "
        + (
            f"Updates are only {med_update:.0e} of the weights per step (~1e-3 trains well): the learning rate "
            "is too small for this loss (an MSE averaged over every output makes gradients small)."
            if slow
            else "The optimizer makes no progress: try a faster optimizer or a larger learning rate."
        )
    )
    severity = Severity.ERROR if stalled else Severity.WARNING
    return [Finding(Kind.STALLED_LOSS, severity, [], evidence, explanation, view.remedies(Target.STALLED_LOSS))]


def _tail_median(m: np.ndarray) -> np.ndarray:
    """Per column, the median over the second half of the rows that are finite (NaN if none)."""
    out = np.full(m.shape[1] if m.ndim == 2 else 0, math.nan)
    for j in range(out.size):
        col = m[:, j][np.isfinite(m[:, j])]
        if col.size:
            out[j] = float(np.median(col[col.size // 2 :]))
    return out


@detector(
    Kind.UPDATE_RATIO,
    order=5,
    superseded_by=(
        Kind.EXPLODING_GRADIENT, Kind.OVERSIZE_UPDATE, Kind.DEAD_UNITS, Kind.SATURATION, Kind.VANISHING_GRADIENT,
        Kind.STALLED_LOSS,
    ),
)
def detect_update_ratio(view: RunView) -> list[Finding]:
    if not view.windows:
        return []
    out = []
    has_grad = [bool(np.any(view.norm_max[view.windows // 2 :, j] > 0)) for j in range(len(view.layers))]
    for direction, test in ((Target.UPDATE_RATIO_HIGH, lambda u: u > UPDATE_RATIO_HIGH),
                            (Target.UPDATE_RATIO_LOW, lambda u: u < UPDATE_RATIO_LOW)):
        hit = {}
        for j, name in enumerate(view.layers):
            col = [float(u) for u in view.update[:, j] if math.isfinite(u)]
            if has_grad[j] and col and sustained([test(u) for u in col]):
                hit[name] = float(np.median(col[len(col) // 2 :]))
        if not hit:
            continue
        evidence = {"update_ratio": {n: sig(v) for n, v in hit.items()}, "heuristic": 1e-3}
        evidence.update(view.loss_evidence())
        if direction is Target.UPDATE_RATIO_HIGH:
            explanation = (
                "Each step changes these layers' weights by more than a tenth of their size (~1e-3 trains well, "
                "Karpathy's CS231n heuristic): the learning rate is too high for them; training is noisy and "
                "may diverge."
            )
        else:
            explanation = (
                "Each step changes these layers' weights by less than 1e-5 of their size (~1e-3 trains well, "
                "Karpathy's CS231n heuristic): they are effectively frozen — the learning rate is too small "
                "for them."
            )
        out.append(Finding(Kind.UPDATE_RATIO, Severity.WARNING, list(hit), evidence, explanation,
                           view.remedies(direction)))
    return out


def undertrained_finding(
    own: float, reached: float, patch: dict[str, Any], name: str, probe_epochs: int | None = None, patches: bool = True
) -> Finding:
    """The "undertrained" finding: this run ends at `own` x the trivial MSE where `patch` (same
    architecture, shown by the doctor's probe `name`) reached `reached` x; its remedy is that patch."""
    where = f" in a {probe_epochs}-epoch probe" if probe_epochs else ""
    return Finding(
        kind=Kind.UNDERTRAINED,
        severity=Severity.ERROR if own >= 0.5 else Severity.WARNING,
        layers=[],
        evidence={"mse_over_trivial": sig(own), "reached_mse_over_trivial": sig(reached), "shown_by": name},
        explanation=(
            f"The loss ends at {own:.3g}x the trivial MSE, but the same architecture reached {reached:.3g}x{where} "
            f"with {format_patch(patch) if patches else describe_patch(patch)}: the run is undertrained, not healthy."
        ),
        remedies=[{"patch" if patches else "action": patch if patches else describe_patch(patch),
                   "why": f"the doctor's probe {name} reached {reached:.3g}x the trivial MSE", "name": name}],
    )


@detector(
    Kind.UNDERTRAINED,
    order=6,
    superseded_by=(Kind.EXPLODING_GRADIENT, Kind.OVERSIZE_UPDATE, Kind.DEAD_UNITS, Kind.SATURATION,
                   Kind.VANISHING_GRADIENT, Kind.STALLED_LOSS),
)
def detect_undertrained(view: RunView) -> list[Finding]:
    """Only with the doctor's evidence (`reachable`): what a same-architecture patch reached."""
    reach = view.reachable
    mse = view.final_mse()
    if not reach or mse is None or view.trivial_mse is None or view.trivial_mse <= 0:
        return []
    own, reached = mse / view.trivial_mse, float(reach["test_over_trivial"])
    if not is_undertrained(own, reached):
        return []
    return [undertrained_finding(own, reached, reach["patch"], reach.get("name", "probe"), patches=view.patches)]


# -- entry points -----------------------------------------------------------------------------


def diagnose(
    records: list[dict[str, Any]],
    metrics: list[dict[str, Any]] | None = None,
    trivial_mse: float | None = None,
    test_mse: float | None = None,
    config: Any = None,
    patches: bool = True,
    reachable: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run every detector over the window records; returns the findings.json object.

    trivial_mse: MSE of predicting the training mean (on the test split); test_mse: the model's
    (else the last epoch record's "test_mse" in `metrics`, else the last window's training loss).
    config: the run's resolved config (Config or dict), so remedies skip what is already set.
    patches: each remedy as an aegrad config patch (``"patch"``, printed as ``--set`` flags); False
    for a model aegrad did not build, where those flags mean nothing: the remedy in words (``"action"``).
    reachable: the doctor's evidence {"test_over_trivial", "patch", "name"} of what a same-architecture
    patch reached; a run ending far above it is "undertrained".
    """
    view = RunView(records, metrics, trivial_mse, test_mse, config, patches=patches)
    view.reachable = reachable
    if not view.records:
        return {"healthy": True, "findings": []}
    # Registered names are sorted, so detectors of equal order run alphabetically, whatever imported them first.
    dets = sorted((DETECTORS.get(n) for n in DETECTORS.names()), key=lambda d: d.order)
    # Divergence (and what the run's metrics say) is judged on every window; the rest on the windows before it.
    healthy_part = view.until_divergence()
    found: dict[Kind, list[Finding]] = {}
    for d in dets:
        part = view if d.every_window else healthy_part
        found[d.name] = d.fn(part) if part.windows else []
    kinds = {k for k, fs in found.items() if fs}
    findings: list[Finding] = []
    for d in dets:
        if any(k in kinds for k in d.superseded_by):
            continue
        findings.extend(found[d.name])
    findings.sort(key=lambda f: 0 if f.severity == Severity.ERROR else 1)
    return {"healthy": not findings, "findings": [f.to_dict() for f in findings]}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def format_findings(obj: dict[str, Any]) -> str:
    """The findings object for a terminal: one block per finding, or a one-line "healthy"."""
    if not obj.get("findings"):
        return "healthy: no gradient-health findings"
    lines = []
    for f in obj["findings"]:
        where = f" in {', '.join(f['layers'])}" if f["layers"] else ""
        lines.append(f"{f['severity'].upper()} {f['kind']}{where}")
        lines.append("  evidence: " + ", ".join(f"{k}={_fmt(v)}" for k, v in f["evidence"].items()))
        lines.append(f"  {f['explanation']}")
        if f["remedies"]:
            top = f["remedies"][0]
            how = format_patch(top["patch"]) if "patch" in top else top.get("action", "")
            lines.append(f"  try: {how}  ({top['why']})")
    return "\n".join(lines)
