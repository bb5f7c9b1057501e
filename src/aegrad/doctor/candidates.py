"""The remedies a doctor probes: those the baseline's findings name, then cheap standard ones.

Pure functions over a config and a findings object; the order is the order of probing, so
when the budget runs out the most promising patches have been tried.
"""

from __future__ import annotations

from typing import Any

from aegrad.config import Config, apply_overrides
from aegrad.diagnose.catalogue import REMEDIES
from aegrad.diagnose.configview import ConfigView

# Remedies of each finding that are probed (its first ones: the catalogue ranks by cause).
PER_FINDING = 3
# Learning-rate factors probed for any run, in probing order (x/÷ 10 first, then x/÷ 3).
LR_FACTORS_FIRST = (0.1, 10.0)
LR_FACTORS_LATER = (1 / 3, 3.0)
# Adam's usual learning rate (Kingma & Ba 2015; PyTorch's default).
USUAL_ADAM_LR = 1e-3
# Learning-rate factors tried on top of the best candidate (the first step of the line search probes both).
REFINE_FACTORS = (1 / 3, 3.0)
# The line search's steps at most: the first probes both factors, each later one only the factor that improved
# (x3 x3 x3 x3: up to 81x the best candidate's rate) while each step beats the last by the margin.
LINE_STEPS = 4
# At most this many pairs (the best candidate with another finding's remedy) are probed.
COMBINE_MAX = 6
# A best candidate that does not train yet (at or above findings.TRAINED_RATIO x trivial) is probed last with this many
# times the run's epochs: a run whose cause is fixed may still be too short for its architecture.
LONGER = 3


def _lr_name(factor: float) -> str:
    return f"lr/{1 / factor:g}" if factor < 1 else f"lr*{factor:g}"


def _lr_candidate(cfg: Config, factor: float) -> tuple[str, dict[str, Any]]:
    return _lr_name(factor), {"train.lr": float(f"{cfg.train.lr * factor:.3g}")}


def _standard(cfg: Config, names: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
    rc = ConfigView(cfg)
    out = []
    for name in names:
        patch = REMEDIES.get(name).patch(rc)
        if patch:
            out.append((name, patch))
    return out


def _usual_lr(cfg: Config) -> list[tuple[str, dict[str, Any]]]:
    """Adam (and AdamW) at their usual 1e-3, when the rate is more than 3x away from it: x/÷ 10 alone
    cannot reach it from 1e-6 or 1."""
    lr = cfg.train.lr
    if cfg.train.optimizer in ("adam", "adamw") and not USUAL_ADAM_LR / 3 <= lr <= USUAL_ADAM_LR * 3:
        return [("usual_lr", {"train.lr": USUAL_ADAM_LR})]
    return []


def lr_refinements(cfg: Config, name: str, patch: dict[str, Any],
                   factors: tuple[float, ...] = REFINE_FACTORS) -> list[tuple[str, str, dict[str, Any]]]:
    """The best candidate so far with its learning rate times each of `factors` (default x/÷ 3): the standard lr
    moves, on top of a remedy (a remedy that fixes the cause often leaves a rate tuned for the broken config)."""
    lr = float(patch.get("train.lr", cfg.train.lr))
    out = []
    for factor in factors:
        out.append((f"{name} +{_lr_name(factor)}", "refine", {**patch, "train.lr": float(f"{lr * factor:.3g}")}))
    return out


def combinations(best: tuple[str, dict[str, Any]], others: list[tuple[str, str, dict[str, Any]]]) -> list[
        tuple[str, str, dict[str, Any]]]:
    """The best candidate joined with each remedy a finding named that touches other keys: a learning rate
    that broke the run hides what a structural remedy does (relu + kaiming at lr 0.3 fails like the
    baseline; at the repaired rate it trains), so one fix at a time can miss the pair."""
    return _joins(best, [o for o in others if o[1].startswith("finding:")])[:COMBINE_MAX]


def _joins(best: tuple[str, dict[str, Any]], others: list[tuple[str, str, dict[str, Any]]]) -> list[
        tuple[str, str, dict[str, Any]]]:
    """`best` joined with each of `others` that touches other keys."""
    name, patch = best
    return [(f"{name} & {other}", "combine", {**patch, **extra}) for other, _, extra in others
            if not set(extra) & set(patch)]


def not_trained_yet(cfg: Config, best: tuple[str, dict[str, Any]],
                    others: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[str, str, dict[str, Any]]]:
    """For a best candidate that does not train yet: it with Adam at its usual rate (when it uses another optimizer),
    then joined with each other contender (`others`, best first, any source) that touches other keys. A remedy for
    the cause (zero bias, the standard init scale) leaves an optimizer that was slow for the broken config, and a
    standard improvement (zero_bias) can add to a structural one (residual + norm) the findings named."""
    name, patch = best
    out = []
    if patch.get("train.optimizer", cfg.train.optimizer) not in ("adam", "adamw"):
        out.append((f"{name} & adam", "combine", {**patch, "train.optimizer": "adam", "train.lr": USUAL_ADAM_LR}))
    return (out + _joins(best, others))[:COMBINE_MAX]


def longer(cfg: Config, name: str, patch: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """The candidate with LONGER x the run's epochs (its probe is LONGER x as long as the others); name "": the
    config itself."""
    return (f"{name} +epochs*{LONGER}" if name else f"epochs*{LONGER}"), "longer", {
        **patch, "train.epochs": cfg.train.epochs * LONGER}


def last_resort(cfg: Config, config_itself: bool, best: tuple[str, dict[str, Any]] | None) -> list[
        tuple[str, str, dict[str, Any]]]:
    """For a run that does not train and got no confirmed winner: the best contender (if any, and not already long)
    and the config itself (`config_itself`: a baseline with no error finding, only slow) with LONGER x the epochs."""
    out = []
    if best is not None and "train.epochs" not in best[1]:
        out.append(longer(cfg, *best))
    if config_itself:
        out.append(longer(cfg, "", {}))
    return out


def _same_lr(data: dict[str, Any]) -> dict[str, Any]:
    """The config dict with its learning rate to 2 significant digits: lr/3 x 3 (0.00999) is lr (0.01)."""
    data["train"] = {**data["train"], "lr": float(f"{data['train']['lr']:.2g}")}
    return data


def unique(cfg: Config, items: list[tuple[str, str, dict[str, Any]]], seen: list[dict[str, Any]]) -> list[
        tuple[str, str, dict[str, Any]]]:
    """`items` without patches that do not apply, change nothing, or give a config already in `seen`
    (which grows by those kept)."""
    base = _same_lr(cfg.to_dict())
    out = []
    for name, source, patch in items:
        try:
            changed = _same_lr(apply_overrides(base, patch))
        except Exception:  # noqa: BLE001 - a patch that does not apply to this config is not a candidate
            continue
        if changed == base or changed in seen:
            continue
        seen.append(changed)
        out.append((name, source, dict(patch)))
    return out


def candidates(cfg: Config, findings: dict[str, Any], seen: list[dict[str, Any]] | None = None) -> list[
        tuple[str, str, dict[str, Any]]]:
    """[(name, source, patch)] in probing order, no-ops and duplicates removed (`seen`: configs already
    probed, extended by these).

    Order: each finding's first remedy; lr/10, lr*10, init matched to the activation, Adam, Adam's usual
    rate; each finding's next remedies; lr/3, lr*3, the standard init scale and bias.
    """
    named: list[list[tuple[str, str, dict[str, Any]]]] = []
    for f in findings.get("findings", []):
        rems = [r for r in f.get("remedies", []) if "patch" in r][:PER_FINDING]
        named.append([(f"{f['kind']}:{r['name']}", f"finding:{f['kind']}", r["patch"]) for r in rems])
    first = [rs[0] for rs in named if rs]
    later = [r for rs in named for r in rs[1:]]
    std_first = [(n, "standard", p) for n, p in (_lr_candidate(cfg, k) for k in LR_FACTORS_FIRST)]
    std_first += [(n, "standard", p) for n, p in _standard(cfg, ("init_for_activation", "adam")) + _usual_lr(cfg)]
    std_later = [(n, "standard", p) for n, p in (_lr_candidate(cfg, k) for k in LR_FACTORS_LATER)]
    std_later += [(n, "standard", p) for n, p in _standard(cfg, ("reset_init_gain", "zero_bias"))]
    return unique(cfg, [*first, *std_first, *later, *std_later], [] if seen is None else seen)
