"""The remedies a doctor probes: those the baseline's findings name, then cheap standard ones.

Pure functions over a config and a findings object; the order is the order of probing, so
when the budget runs out the most promising patches have been tried.
"""

from __future__ import annotations

from typing import Any

from aegrad.config import Config, apply_overrides
from aegrad.diagnose.remedies import REMEDIES, RunConfig

# Remedies of each finding that are probed (its first ones: the catalogue ranks by cause).
PER_FINDING = 3
# Learning-rate factors probed for any run, in probing order (the x/÷ 3 and 10).
LR_FACTORS_FIRST = (0.1, 10.0)
LR_FACTORS_LATER = (1 / 3, 3.0)


def _lr_candidate(cfg: Config, factor: float) -> tuple[str, dict[str, Any]]:
    lr = float(f"{cfg.train.lr * factor:.3g}")
    name = f"lr/{1 / factor:g}" if factor < 1 else f"lr*{factor:g}"
    return name, {"train.lr": lr}


def _standard(cfg: Config, names: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
    rc = RunConfig(cfg.to_dict())
    out = []
    for name in names:
        patch = REMEDIES.get(name).patch(rc)
        if patch:
            out.append((name, patch))
    return out


def candidates(cfg: Config, findings: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """[(name, source, patch)] in probing order, no-ops and duplicates removed.

    Order: each finding's first remedy; lr/10, lr*10, init matched to the activation, Adam; each
    finding's next remedies; lr/3, lr*3.
    """
    named: list[list[tuple[str, str, dict[str, Any]]]] = []
    for f in findings.get("findings", []):
        rems = [r for r in f.get("remedies", []) if "patch" in r][:PER_FINDING]
        named.append([(f"{f['kind']}:{r['name']}", f"finding:{f['kind']}", r["patch"]) for r in rems])
    first = [rs[0] for rs in named if rs]
    later = [r for rs in named for r in rs[1:]]
    std_first = [(n, "standard", p) for n, p in (_lr_candidate(cfg, k) for k in LR_FACTORS_FIRST)]
    std_first += [(n, "standard", p) for n, p in _standard(cfg, ("init_for_activation", "adam"))]
    std_later = [(n, "standard", p) for n, p in (_lr_candidate(cfg, k) for k in LR_FACTORS_LATER)]
    base = cfg.to_dict()
    out: list[tuple[str, str, dict[str, Any]]] = []
    seen: list[dict[str, Any]] = []
    for name, source, patch in [*first, *std_first, *later, *std_later]:
        try:
            changed = apply_overrides(base, patch)
        except Exception:  # noqa: BLE001 - a patch that does not apply to this config is not a candidate
            continue
        if changed == base or changed in seen:
            continue
        seen.append(changed)
        out.append((name, source, dict(patch)))
    return out
