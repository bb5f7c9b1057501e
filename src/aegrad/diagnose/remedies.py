"""The remedy catalogue: named fixes, each a patch of dotted aegrad config keys with a one-line why.

A patch is exactly what ``aegrad train --set key=value`` (and ``config.with_overrides``)
accepts, so every finding ends in a command that can be run. Each remedy declares the finding
kinds it treats with a rank (lower is tried first) and computes its patch from the run's
resolved config: it returns None when it does not apply (already set, or nothing to change),
so a finding never proposes what the run already does. With no config every remedy whose
patch needs no run value applies.

The source document's remedies are all here: network structure and skip connections
(``residual``, ``shallower``), ReLU / Leaky ReLU / PReLU (``relu_kaiming``, ``leaky_relu``,
``prelu``), L1/L2 regularisation (``l1``, ``l2``), SGD → Momentum / Nesterov / Adam
(``momentum``, ``nesterov``, ``adam``), gradient accumulation and clipping (``accumulate``,
``clip_norm``, ``clip_value``) and greedy layer-wise pretraining (``pretrain_layerwise``).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from aegrad.diagnose.kinds import Target
from aegrad.models.activations import activation_names, get_activation
from aegrad.registry import Registry

Patch = dict[str, Any]

BOUNDED = activation_names(family="bounded")  # sigmoid, tanh: they saturate
NEGATIVE_SLOPE = activation_names(unit="leaky")  # leaky_relu, prelu, elu, ...: a gradient below zero, cannot die


class RunConfig:
    """Read-only dotted access to a resolved config dict; every key is None when the config is unknown."""

    def __init__(self, config: Any = None) -> None:
        if config is not None and hasattr(config, "to_dict"):
            config = config.to_dict()
        self.data: dict[str, Any] | None = config

    @property
    def known(self) -> bool:
        return self.data is not None

    def get(self, key: str) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node


@dataclass(frozen=True)
class Remedy:
    """A named config change: `patch(cfg)` gives the patch for this run, or None if it does not apply."""

    name: str
    why: str
    treats: dict[Target, int]  # finding kind -> rank among that kind's remedies (lower first)
    patch: Callable[[RunConfig], Patch | None]


REMEDIES: Registry[Remedy] = Registry("remedy")


def remedy(name: str, why: str, treats: dict[Target, int]) -> Callable[[Callable[[RunConfig], Patch | None]], Remedy]:
    """Register the decorated patch function as a remedy."""

    def deco(fn: Callable[[RunConfig], Patch | None]) -> Remedy:
        r = Remedy(name=name, why=why, treats=treats, patch=fn)
        REMEDIES.register(name)(r)
        return r

    return deco


def _round_lr(x: float) -> float:
    return float(f"{x:.3g}")


# What a remedy can treat: finding kinds, update_ratio split by direction (the finding itself is
# reported under kind "update_ratio").
TREATABLE = tuple(Target)


# -- activations and initialisation ---------------------------------------------------------


@remedy(
    "modern_recipe",
    "all three fixes at once, as deep nets are trained today: ReLU + He init keep gradients from shrinking "
    "with depth and Adam's per-parameter steps move the early layers (measured here: a depth-8 sigmoid/SGD net "
    "that no single change rescues in 15 epochs trains to 0.4x the trivial MSE)",
    treats={Target.VANISHING_GRADIENT: 0},
)
def _modern_recipe(cfg: RunConfig) -> Patch | None:
    if cfg.get("model.activation") not in BOUNDED or cfg.get("train.optimizer") in ("adam", "adamw"):
        return None  # one part is already in place: the single-change remedies below say which is missing
    return {"model.activation": "relu", "model.init": "kaiming_normal", "train.optimizer": "adam", "train.lr": 0.001}


@remedy(
    "relu_kaiming",
    "ReLU passes gradients with slope 1 on active units and He init keeps their variance constant "
    "across layers, so depth no longer shrinks them (He et al. 2015; Glorot & Bengio 2010)",
    treats={Target.VANISHING_GRADIENT: 1, Target.SATURATION: 3},
)
def _relu_kaiming(cfg: RunConfig) -> Patch | None:
    act = cfg.get("model.activation")
    if act is not None and act not in BOUNDED:
        return None
    return {"model.activation": "relu", "model.init": "kaiming_normal"}


@remedy(
    "leaky_relu",
    "a small slope below zero keeps a gradient through inactive units, so they can recover (Maas et al. 2013)",
    treats={Target.DEAD_UNITS: 2, Target.VANISHING_GRADIENT: 7},
)
def _leaky_relu(cfg: RunConfig) -> Patch | None:
    if cfg.get("model.activation") in NEGATIVE_SLOPE:
        return None
    return {"model.activation": "leaky_relu"}


@remedy(
    "prelu",
    "a learned slope below zero: units cannot die and the net picks how much negative signal to pass (He et al. 2015)",
    treats={Target.DEAD_UNITS: 3, Target.VANISHING_GRADIENT: 8},
)
def _prelu(cfg: RunConfig) -> Patch | None:
    if cfg.get("model.activation") in NEGATIVE_SLOPE:
        return None
    return {"model.activation": "prelu"}


@remedy(
    "init_for_activation",
    "initial weights scaled to the activation (He for the ReLU family, Glorot for sigmoid/tanh) keep "
    "signal and gradient variance equal across layers (He et al. 2015; Glorot & Bengio 2010)",
    treats={Target.VANISHING_GRADIENT: 5, Target.EXPLODING_GRADIENT: 5, Target.DEAD_UNITS: 5, Target.SATURATION: 5},
)
def _init_for_activation(cfg: RunConfig) -> Patch | None:
    act, init = cfg.get("model.activation"), cfg.get("model.init")
    if act in BOUNDED:
        return None if str(init).startswith("xavier") else {"model.init": "xavier_normal"}
    if act is None and init is None:
        return {"model.init": "kaiming_normal"}
    return None if str(init).startswith("kaiming") else {"model.init": "kaiming_normal"}


# A value the user set away from the standard init (a weight scale, a constant bias) is the first suspect for every
# failure it can cause: its remedy ranks before all others of those kinds (and applies only when the value was set).
CONFIG_FAULT = -1


@remedy(
    "reset_init_gain",
    "the initial weights are scaled by init_gain: above 1 activations and gradients grow by that factor at every "
    "layer, below 1 they shrink by it; the standard scale (1) keeps them level",
    treats={Target.EXPLODING_GRADIENT: CONFIG_FAULT, Target.SATURATION: CONFIG_FAULT,
            Target.VANISHING_GRADIENT: CONFIG_FAULT, Target.STALLED_LOSS: CONFIG_FAULT, Target.DEAD_UNITS: 6},
)
def _reset_init_gain(cfg: RunConfig) -> Patch | None:
    gain = cfg.get("model.init_gain")
    return {"model.init_gain": 1.0} if gain is not None and gain != 1.0 else None


@remedy(
    "zero_bias",
    "constant initial biases push every unit the same way for every input: negative ones switch ReLU units off "
    "(or onto Leaky ReLU's small slope), any under sigmoid/tanh moves units toward saturation; they start at zero "
    "instead",
    treats={Target.DEAD_UNITS: CONFIG_FAULT, Target.VANISHING_GRADIENT: CONFIG_FAULT, Target.SATURATION: CONFIG_FAULT,
            Target.STALLED_LOSS: CONFIG_FAULT},
)
def _zero_bias(cfg: RunConfig) -> Patch | None:
    bias = cfg.get("model.bias_init")
    if bias is None or bias == 0:
        return None
    return {"model.bias_init": 0.0} if bias < 0 or cfg.get("model.activation") in BOUNDED else None


# -- structure --------------------------------------------------------------------------------


@remedy(
    "residual",
    "identity skips give the gradient a path around every block, so it reaches early layers "
    "undiminished (He et al. 2016); with layer norm, since un-normalised skips add up the blocks' "
    "variance and explode (measured: 4.7x the trivial MSE at depth 16 without a norm, 0.39x with one)",
    treats={Target.VANISHING_GRADIENT: 2},
)
def _residual(cfg: RunConfig) -> Patch | None:
    if cfg.get("model.residual"):
        return None
    norm = cfg.get("model.norm")
    return {"model.residual": True} if norm not in (None, "none") else {"model.residual": True, "model.norm": "layer"}


@remedy(
    "layer_norm",
    "normalising each hidden layer's pre-activations keeps units out of saturation and the "
    "gradient scale steady with depth (Ba et al. 2016)",
    treats={Target.VANISHING_GRADIENT: 3, Target.EXPLODING_GRADIENT: 4, Target.SATURATION: 4, Target.DEAD_UNITS: 7},
)
def _layer_norm(cfg: RunConfig) -> Patch | None:
    norm = cfg.get("model.norm")
    return None if norm in ("layer", "batch") else {"model.norm": "layer"}


@remedy(
    "batch_norm",
    "normalising pre-activations over the batch keeps them centred and unit-scale (Ioffe & Szegedy 2015)",
    treats={Target.VANISHING_GRADIENT: 9, Target.SATURATION: 8, Target.DEAD_UNITS: 8},
)
def _batch_norm(cfg: RunConfig) -> Patch | None:
    norm = cfg.get("model.norm")
    return None if norm in ("layer", "batch") else {"model.norm": "batch"}


@remedy(
    "shallower",
    "fewer layers multiply fewer per-layer gradient factors: the simplest structural fix",
    treats={Target.VANISHING_GRADIENT: 10},
)
def _shallower(cfg: RunConfig) -> Patch | None:
    depth, widths = cfg.get("model.depth"), cfg.get("model.widths")
    if depth is not None:
        return {"model.depth": depth // 2} if depth >= 2 else None
    if isinstance(widths, list) and len(widths) >= 2:
        return {"model.widths": widths[: len(widths) // 2]}
    return None


@remedy(
    "pretrain_layerwise",
    "greedy layer-wise pretraining trains each encoder/decoder pair on its own, so no gradient has "
    "to cross the whole depth (Hinton & Salakhutdinov 2006; Bengio et al. 2007)",
    treats={Target.VANISHING_GRADIENT: 6},
)
def _pretrain(cfg: RunConfig) -> Patch | None:
    return None if cfg.get("train.pretrain") == "layerwise" else {"train.pretrain": "layerwise"}


# -- data ---------------------------------------------------------------------------------------


@remedy(
    "normalize_inputs",
    "unscaled inputs drive the first layer's pre-activations far from zero; normalising them "
    "(fitted on the training split) brings them to unit scale — min-max to [0, 1] under a sigmoid "
    "output, which cannot reach z-scores' negative values; z-score otherwise",
    treats={Target.SATURATION: 1, Target.EXPLODING_GRADIENT: 6},
)
def _normalize_inputs(cfg: RunConfig) -> Patch | None:
    norm = cfg.get("data.normalize")
    if norm not in (None, "none"):
        return None
    # Min-max when the output may be a sigmoid (config.py refuses z-scores under one), z-score otherwise.
    sigmoid = cfg.get("model.output") == "sigmoid" or not cfg.known
    return {"data.normalize": "minmax" if sigmoid else "zscore"}


# -- optimizer and learning rate --------------------------------------------------------------


@remedy(
    "adam",
    "Adam scales each parameter's step by its own gradient history, so small or uneven gradients "
    "still move the weights at ~lr per step (Kingma & Ba 2015)",
    treats={Target.STALLED_LOSS: 1, Target.VANISHING_GRADIENT: 4, Target.UPDATE_RATIO_LOW: 2, Target.EXPLODING_GRADIENT: 9},
)
def _adam(cfg: RunConfig) -> Patch | None:
    return None if cfg.get("train.optimizer") in ("adam", "adamw") else {"train.optimizer": "adam", "train.lr": 0.001}


@remedy(
    "adam_lr",
    "Adam moves every weight by about lr per step whatever the gradient's scale, so a large lr makes "
    "steps as large as the weights themselves; its default 1e-3 keeps them near 1e-3 of the weights "
    "(Kingma & Ba 2015)",
    treats={Target.OVERSIZE_UPDATE: 0},
)
def _adam_lr(cfg: RunConfig) -> Patch | None:
    lr = cfg.get("train.lr")  # unknown (a model aegrad did not build): Adam's default rate, said in words
    if cfg.get("train.optimizer") not in ("adam", "adamw", None) or (lr is not None and lr <= 3e-3):
        return None
    return {"train.lr": 0.001}


@remedy(
    "higher_lr",
    "updates are far below the ~1e-3 of the weights per step that trains well: a 10x larger learning rate",
    treats={Target.STALLED_LOSS: 2, Target.UPDATE_RATIO_LOW: 1},
)
def _higher_lr(cfg: RunConfig) -> Patch | None:
    lr = cfg.get("train.lr")
    return {"train.lr": _round_lr(lr * 10)} if lr is not None else None


@remedy(
    "lower_lr",
    "steps too large for the loss surface overshoot and grow: a 10x smaller learning rate",
    treats={Target.EXPLODING_GRADIENT: 1, Target.UPDATE_RATIO_HIGH: 1, Target.DEAD_UNITS: 4, Target.OVERSIZE_UPDATE: 1},
)
def _lower_lr(cfg: RunConfig) -> Patch | None:
    lr = cfg.get("train.lr")
    return {"train.lr": _round_lr(lr / 10)} if lr is not None else None


@remedy(
    "nesterov",
    "Nesterov momentum accumulates a velocity along consistent gradient directions and looks ahead "
    "before stepping, crossing flat regions many times faster than plain SGD (Sutskever et al. 2013)",
    treats={Target.STALLED_LOSS: 3, Target.UPDATE_RATIO_LOW: 3},
)
def _nesterov(cfg: RunConfig) -> Patch | None:
    return {"train.optimizer": "nesterov"} if cfg.get("train.optimizer") in (None, "sgd", "momentum") else None


@remedy(
    "momentum",
    "heavy-ball momentum averages gradients over ~1/(1-momentum) steps: larger, steadier steps "
    "along consistent directions (Polyak 1964)",
    treats={Target.STALLED_LOSS: 4, Target.UPDATE_RATIO_LOW: 4},
)
def _momentum(cfg: RunConfig) -> Patch | None:
    return {"train.optimizer": "momentum"} if cfg.get("train.optimizer") in (None, "sgd") else None


# -- clipping, accumulation, regularisation ---------------------------------------------------


@remedy(
    "clip_norm",
    "rescales the whole gradient when its norm exceeds 1.0, so one bad batch cannot blow up the "
    "weights (Pascanu et al. 2013)",
    treats={Target.EXPLODING_GRADIENT: 2, Target.UPDATE_RATIO_HIGH: 2, Target.OVERSIZE_UPDATE: 3},
)
def _clip_norm(cfg: RunConfig) -> Patch | None:
    clip = cfg.get("train.clip_norm")
    return {"train.clip_norm": 1.0} if clip is None or clip > 1.0 else None


@remedy(
    "clip_value",
    "caps every gradient element at ±1.0: a blunter guard against spikes than norm clipping",
    treats={Target.EXPLODING_GRADIENT: 7},
)
def _clip_value(cfg: RunConfig) -> Patch | None:
    clip = cfg.get("train.clip_value")
    return {"train.clip_value": 1.0} if clip is None or clip > 1.0 else None


@remedy(
    "accumulate",
    "averages 4 micro-batches per optimizer step: a less noisy gradient, fewer spikes, same memory",
    treats={Target.EXPLODING_GRADIENT: 8, Target.UPDATE_RATIO_HIGH: 3},
)
def _accumulate(cfg: RunConfig) -> Patch | None:
    acc = cfg.get("train.accumulate")
    return {"train.accumulate": 4} if acc in (None, 1) else None


@remedy(
    "l2",
    "an L2 penalty pulls weights toward zero, keeping pre-activations small: fewer saturated "
    "sigmoid/tanh units and no runaway weight growth",
    treats={Target.SATURATION: 6, Target.EXPLODING_GRADIENT: 10, Target.VANISHING_GRADIENT: 11},
)
def _l2(cfg: RunConfig) -> Patch | None:
    l2 = cfg.get("train.l2")
    return {"train.l2": 1e-4} if not l2 else None


@remedy(
    "l1",
    "an L1 penalty drives small weights to exactly zero; it bounds weight growth more weakly than L2",
    treats={Target.EXPLODING_GRADIENT: 11, Target.SATURATION: 9},
)
def _l1(cfg: RunConfig) -> Patch | None:
    l1 = cfg.get("train.l1")
    return {"train.l1": 1e-5} if not l1 else None


# -- queries ----------------------------------------------------------------------------------


def list_remedies() -> list[str]:
    """Names of every registered remedy."""
    return REMEDIES.names()


def remedies_for(kind: Target | str, config: Any = None) -> list[dict[str, Any]]:
    """Ranked remedies for a finding kind, best first: [{"patch": {...}, "why": str, "name": str}].

    `config` is the run's resolved config (a Config or its dict); remedies that do not apply to
    it (already set) are left out, and identical patches appear once.
    """
    if kind not in TREATABLE:
        raise KeyError(f"unknown finding kind {kind!r}; valid: {', '.join(TREATABLE)}")
    kind = Target(kind)
    cfg = RunConfig(config)
    ranked = sorted(
        (REMEDIES.get(n) for n in REMEDIES.names() if kind in REMEDIES.get(n).treats),
        key=lambda r: (r.treats[kind], r.name),
    )
    out: list[dict[str, Any]] = []
    seen: list[Patch] = []
    for r in ranked:
        patch = r.patch(cfg)
        if patch is None or patch in seen:
            continue
        seen.append(patch)
        out.append({"patch": patch, "why": r.why, "name": r.name})
    return out


def format_value(value: Any) -> str:
    """A value as the YAML scalar/flow text that ``--set`` parses back to the same value."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text.removesuffix("...").strip()


def format_patch(patch: Patch) -> str:
    """A patch as command-line flags: ``--set model.activation=leaky_relu --set train.lr=0.0001``."""
    return " ".join(f"--set {shlex.quote(f'{k}={format_value(v)}')}" for k, v in patch.items())


# -- a patch in words, for a model aegrad did not build (its `--set` flags would mean nothing there) ----

def _activation_words(name: Any) -> str:
    try:
        cls = get_activation(str(name)).module.__name__
    except KeyError:
        return str(name)
    return f"{cls} (torch.nn.{cls})"


def _n(v: Any) -> str:
    return f"{v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


_INIT_WORDS = {
    "kaiming_normal": "He (Kaiming) normal initialisation (torch.nn.init.kaiming_normal_)",
    "kaiming_uniform": "He (Kaiming) uniform initialisation (torch.nn.init.kaiming_uniform_)",
    "xavier_normal": "Glorot (Xavier) normal initialisation (torch.nn.init.xavier_normal_)",
    "xavier_uniform": "Glorot (Xavier) uniform initialisation (torch.nn.init.xavier_uniform_)",
}
_OPTIMIZER_WORDS = {
    "adam": "Adam (torch.optim.Adam)",
    "adamw": "AdamW (torch.optim.AdamW)",
    "nesterov": "SGD with Nesterov momentum 0.9 (torch.optim.SGD(momentum=0.9, nesterov=True))",
    "momentum": "SGD with momentum 0.9 (torch.optim.SGD(momentum=0.9))",
}
# Config key -> the change it makes, said for any PyTorch model and loop.
KEY_WORDS: dict[str, Callable[[Any], str]] = {
    "model.activation": lambda v: f"use {_activation_words(v)} as the hidden activation",
    "model.init": lambda v: f"initialise the weights with {_INIT_WORDS.get(v, str(v))}",
    "model.init_gain": lambda v: f"initialise the weights at {v:g}x the standard scale for the activation",
    "model.bias_init": lambda v: f"start the hidden biases at {v:g}",
    "model.residual": lambda v: "add identity skip (residual) connections around the hidden blocks"
    if v else "remove the skip connections",
    "model.norm": lambda v: {"layer": "add layer normalisation (nn.LayerNorm) after each hidden layer",
                             "batch": "add batch normalisation (nn.BatchNorm1d/2d) after each hidden layer"}.get(
                                 v, f"use {v} normalisation"),
    "model.depth": lambda v: f"use fewer hidden layers ({v} per side)",
    "model.widths": lambda v: f"use fewer hidden layers (widths {v})",
    "train.pretrain": lambda v: "pretrain greedily, one encoder/decoder layer pair at a time, before training "
    "the whole net" if v == "layerwise" else f"pretraining: {v}",
    "data.normalize": lambda v: {"minmax": "min-max scale the inputs to [0, 1] (fitted on the training data)",
                                 "zscore": "standardise the inputs to zero mean, unit variance (fitted on the "
                                 "training data)"}.get(v, f"normalise the inputs ({v})"),
    "train.optimizer": lambda v: f"train with {_OPTIMIZER_WORDS.get(v, str(v))}",
    "train.lr": lambda v: f"set the learning rate to {_n(v)}",
    "train.clip_norm": lambda v: f"clip the gradients' global norm at {_n(v)} after backward "
    "(torch.nn.utils.clip_grad_norm_)",
    "train.clip_value": lambda v: f"clip every gradient element to ±{_n(v)} after backward "
    "(torch.nn.utils.clip_grad_value_)",
    "train.accumulate": lambda v: f"accumulate the gradients of {v} micro-batches per optimizer step",
    "train.l2": lambda v: f"add an L2 penalty {_n(v)}·½‖w‖² on the weights to the loss",
    "train.l1": lambda v: f"add an L1 penalty {_n(v)}·‖w‖₁ on the weights to the loss",
}


def describe_patch(patch: Patch) -> str:
    """A patch in words: "train with Adam (torch.optim.Adam); set the learning rate to 0.001"."""
    return "; ".join(KEY_WORDS[k](v) if k in KEY_WORDS else f"set {k} to {_n(v)}" for k, v in patch.items())
