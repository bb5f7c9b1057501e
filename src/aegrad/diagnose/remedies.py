"""The gradient-health remedies: named fixes, each a patch of dotted aegrad config keys with a one-line why.

A patch is exactly what ``aegrad train --set key=value`` (and ``config.with_overrides``)
accepts, so every finding ends in a command that can be run. Each remedy declares the finding
kinds it treats with a rank (lower is tried first) and computes its patch from the run's
config (``ConfigView``: the typed Config's fields, None where unknown): it returns None when it
does not apply (already set, or nothing to change), so a finding never proposes what the run
already does. With no config every remedy whose patch needs no run value applies. They are
registered by ``catalogue.remedy`` beside the model families' own (models/<family>/findings.py).

The source document's remedies are all here: network structure and skip connections
(``residual``, ``shallower``), ReLU / Leaky ReLU / PReLU (``relu_kaiming``, ``leaky_relu``,
``prelu``), L1/L2 regularisation (``l1``, ``l2``), SGD → Momentum / Nesterov / Adam
(``momentum``, ``nesterov``, ``adam``), gradient accumulation and clipping (``accumulate``,
``clip_norm``, ``clip_value``) and greedy layer-wise pretraining (``pretrain_layerwise``).

The depth remedies (the section "depth", docs/depth.md) apply to deep dense nets only, at least
``DEEP`` hidden layers per side: scaled residual branches (``rezero``, ``skipinit``, ``layerscale``,
``depth_scaled_init``), pre-norm blocks (``pre_norm_residual``), orthogonal weights at the critical
point for tanh/sigmoid nets without skips (``orthogonal_critical``), learning-rate warm-up
(``lr_warmup``) and a rate scaled with depth (``depth_scaled_lr``).
"""

from __future__ import annotations

from aegrad.config import KINDS_WITHOUT_SKIPS
from aegrad.diagnose.catalogue import remedy
from aegrad.diagnose.configview import ConfigView
from aegrad.diagnose.kinds import Target
from aegrad.diagnose.patches import Patch
from aegrad.models.activations import activation_names

BOUNDED = activation_names(family="bounded")  # sigmoid, tanh: they saturate
NEGATIVE_SLOPE = activation_names(unit="leaky")  # leaky_relu, prelu, elu, ...: a gradient below zero, cannot die


def _round_lr(x: float) -> float:
    return float(f"{x:.3g}")


# -- activations and initialisation ---------------------------------------------------------


@remedy(
    "modern_recipe",
    "all three fixes at once, as deep nets are trained today: ReLU + He init keep gradients from shrinking "
    "with depth and Adam's per-parameter steps move the early layers (measured here: a depth-8 sigmoid/SGD net "
    "that no single change rescues in 15 epochs trains to 0.4x the trivial MSE)",
    treats={Target.VANISHING_GRADIENT: 0},
)
def _modern_recipe(cfg: ConfigView) -> Patch | None:
    if cfg.model.activation not in BOUNDED or cfg.train.optimizer in ("adam", "adamw"):
        return None  # one part is already in place: the single-change remedies below say which is missing
    return {"model.activation": "relu", "model.init": "kaiming_normal", "train.optimizer": "adam", "train.lr": 0.001}


@remedy(
    "relu_kaiming",
    "ReLU passes gradients with slope 1 on active units and He init keeps their variance constant "
    "across layers, so depth no longer shrinks them (He et al. 2015; Glorot & Bengio 2010)",
    treats={Target.VANISHING_GRADIENT: 1, Target.SATURATION: 3},
)
def _relu_kaiming(cfg: ConfigView) -> Patch | None:
    act = cfg.model.activation
    if act is not None and act not in BOUNDED:
        return None
    return {"model.activation": "relu", "model.init": "kaiming_normal"}


@remedy(
    "leaky_relu",
    "a small slope below zero keeps a gradient through inactive units, so they can recover (Maas et al. 2013)",
    treats={Target.DEAD_UNITS: 2, Target.VANISHING_GRADIENT: 7},
)
def _leaky_relu(cfg: ConfigView) -> Patch | None:
    if cfg.model.activation in NEGATIVE_SLOPE:
        return None
    return {"model.activation": "leaky_relu"}


@remedy(
    "prelu",
    "a learned slope below zero: units cannot die and the net picks how much negative signal to pass (He et al. 2015)",
    treats={Target.DEAD_UNITS: 3, Target.VANISHING_GRADIENT: 8},
)
def _prelu(cfg: ConfigView) -> Patch | None:
    if cfg.model.activation in NEGATIVE_SLOPE:
        return None
    return {"model.activation": "prelu"}


@remedy(
    "init_for_activation",
    "initial weights scaled to the activation (He for the ReLU family, Glorot for sigmoid/tanh) keep "
    "signal and gradient variance equal across layers (He et al. 2015; Glorot & Bengio 2010)",
    treats={Target.VANISHING_GRADIENT: 5, Target.EXPLODING_GRADIENT: 5, Target.DEAD_UNITS: 5, Target.SATURATION: 5},
)
def _init_for_activation(cfg: ConfigView) -> Patch | None:
    act, init = cfg.model.activation, cfg.model.init
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
def _reset_init_gain(cfg: ConfigView) -> Patch | None:
    gain = cfg.model.init_gain
    return {"model.init_gain": 1.0} if gain is not None and gain != 1.0 else None


@remedy(
    "zero_bias",
    "constant initial biases push every unit the same way for every input: negative ones switch ReLU units off "
    "(or onto Leaky ReLU's small slope), any under sigmoid/tanh moves units toward saturation; they start at zero "
    "instead",
    treats={Target.DEAD_UNITS: CONFIG_FAULT, Target.VANISHING_GRADIENT: CONFIG_FAULT, Target.SATURATION: CONFIG_FAULT,
            Target.STALLED_LOSS: CONFIG_FAULT},
)
def _zero_bias(cfg: ConfigView) -> Patch | None:
    bias = cfg.model.bias_init
    if bias is None or bias == 0:
        return None
    return {"model.bias_init": 0.0} if bias < 0 or cfg.model.activation in BOUNDED else None


# -- structure --------------------------------------------------------------------------------


@remedy(
    "residual",
    "identity skips give the gradient a path around every block, so it reaches early layers "
    "undiminished (He et al. 2016); with layer norm, since un-normalised skips add up the blocks' "
    "variance and explode (measured: 4.7x the trivial MSE at depth 16 without a norm, 0.39x with one)",
    treats={Target.VANISHING_GRADIENT: 2},
)
def _residual(cfg: ConfigView) -> Patch | None:
    if cfg.model.residual or cfg.model.kind in KINDS_WITHOUT_SKIPS:  # those kinds have no block a skip fits around
        return None
    norm = cfg.model.norm
    return {"model.residual": True} if norm not in (None, "none") else {"model.residual": True, "model.norm": "layer"}


@remedy(
    "layer_norm",
    "normalising each hidden layer's pre-activations keeps units out of saturation and the "
    "gradient scale steady with depth (Ba et al. 2016)",
    treats={Target.VANISHING_GRADIENT: 3, Target.EXPLODING_GRADIENT: 4, Target.SATURATION: 4, Target.DEAD_UNITS: 7},
)
def _layer_norm(cfg: ConfigView) -> Patch | None:
    norm = cfg.model.norm
    return None if norm in ("layer", "batch") else {"model.norm": "layer"}


@remedy(
    "batch_norm",
    "normalising pre-activations over the batch keeps them centred and unit-scale (Ioffe & Szegedy 2015)",
    treats={Target.VANISHING_GRADIENT: 9, Target.SATURATION: 8, Target.DEAD_UNITS: 8},
)
def _batch_norm(cfg: ConfigView) -> Patch | None:
    norm = cfg.model.norm
    return None if norm in ("layer", "batch") else {"model.norm": "batch"}


@remedy(
    "shallower",
    "fewer layers multiply fewer per-layer gradient factors: the simplest structural fix",
    treats={Target.VANISHING_GRADIENT: 10},
)
def _shallower(cfg: ConfigView) -> Patch | None:
    depth, widths = cfg.model.depth, cfg.model.widths
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
def _pretrain(cfg: ConfigView) -> Patch | None:
    return None if cfg.train.pretrain == "layerwise" else {"train.pretrain": "layerwise"}


# -- data ---------------------------------------------------------------------------------------


@remedy(
    "normalize_inputs",
    "unscaled inputs drive the first layer's pre-activations far from zero; normalising them "
    "(fitted on the training split) brings them to unit scale — min-max to [0, 1] under a sigmoid "
    "output, which cannot reach z-scores' negative values; z-score otherwise",
    treats={Target.SATURATION: 1, Target.EXPLODING_GRADIENT: 6},
)
def _normalize_inputs(cfg: ConfigView) -> Patch | None:
    norm = cfg.data.normalize
    if norm not in (None, "none"):
        return None
    # Min-max when the output may be a sigmoid (config.py refuses z-scores under one), z-score otherwise.
    sigmoid = cfg.model.output == "sigmoid" or not cfg.known
    return {"data.normalize": "minmax" if sigmoid else "zscore"}


# -- optimizer and learning rate --------------------------------------------------------------


@remedy(
    "adam",
    "Adam scales each parameter's step by its own gradient history, so small or uneven gradients "
    "still move the weights at ~lr per step (Kingma & Ba 2015)",
    treats={Target.STALLED_LOSS: 1, Target.VANISHING_GRADIENT: 4, Target.UPDATE_RATIO_LOW: 2,
            Target.EXPLODING_GRADIENT: 9},
)
def _adam(cfg: ConfigView) -> Patch | None:
    return None if cfg.train.optimizer in ("adam", "adamw") else {"train.optimizer": "adam", "train.lr": 0.001}


@remedy(
    "adam_lr",
    "Adam moves every weight by about lr per step whatever the gradient's scale, so a large lr makes "
    "steps as large as the weights themselves; its default 1e-3 keeps them near 1e-3 of the weights "
    "(Kingma & Ba 2015)",
    treats={Target.OVERSIZE_UPDATE: 0},
)
def _adam_lr(cfg: ConfigView) -> Patch | None:
    lr = cfg.train.lr  # unknown (a model aegrad did not build): Adam's default rate, said in words
    if cfg.train.optimizer not in ("adam", "adamw", None) or (lr is not None and lr <= 3e-3):
        return None
    return {"train.lr": 0.001}


@remedy(
    "higher_lr",
    "updates are far below the ~1e-3 of the weights per step that trains well: a 10x larger learning rate",
    treats={Target.STALLED_LOSS: 2, Target.UPDATE_RATIO_LOW: 1},
)
def _higher_lr(cfg: ConfigView) -> Patch | None:
    lr = cfg.train.lr
    return {"train.lr": _round_lr(lr * 10)} if lr is not None else None


@remedy(
    "lower_lr",
    "steps too large for the loss surface overshoot and grow: a 10x smaller learning rate",
    treats={Target.EXPLODING_GRADIENT: 1, Target.UPDATE_RATIO_HIGH: 1, Target.DEAD_UNITS: 4, Target.OVERSIZE_UPDATE: 1},
)
def _lower_lr(cfg: ConfigView) -> Patch | None:
    lr = cfg.train.lr
    return {"train.lr": _round_lr(lr / 10)} if lr is not None else None


@remedy(
    "nesterov",
    "Nesterov momentum accumulates a velocity along consistent gradient directions and looks ahead "
    "before stepping, crossing flat regions many times faster than plain SGD (Sutskever et al. 2013)",
    treats={Target.STALLED_LOSS: 3, Target.UPDATE_RATIO_LOW: 3},
)
def _nesterov(cfg: ConfigView) -> Patch | None:
    return {"train.optimizer": "nesterov"} if cfg.train.optimizer in (None, "sgd", "momentum") else None


@remedy(
    "momentum",
    "heavy-ball momentum averages gradients over ~1/(1-momentum) steps: larger, steadier steps "
    "along consistent directions (Polyak 1964)",
    treats={Target.STALLED_LOSS: 4, Target.UPDATE_RATIO_LOW: 4},
)
def _momentum(cfg: ConfigView) -> Patch | None:
    return {"train.optimizer": "momentum"} if cfg.train.optimizer in (None, "sgd") else None


# -- clipping, accumulation, regularisation ---------------------------------------------------


@remedy(
    "clip_norm",
    "rescales the whole gradient when its norm exceeds 1.0, so one bad batch cannot blow up the "
    "weights (Pascanu et al. 2013)",
    treats={Target.EXPLODING_GRADIENT: 2, Target.UPDATE_RATIO_HIGH: 2, Target.OVERSIZE_UPDATE: 3},
)
def _clip_norm(cfg: ConfigView) -> Patch | None:
    clip = cfg.train.clip_norm
    return {"train.clip_norm": 1.0} if clip is None or clip > 1.0 else None


@remedy(
    "clip_value",
    "caps every gradient element at ±1.0: a blunter guard against spikes than norm clipping",
    treats={Target.EXPLODING_GRADIENT: 7},
)
def _clip_value(cfg: ConfigView) -> Patch | None:
    clip = cfg.train.clip_value
    return {"train.clip_value": 1.0} if clip is None or clip > 1.0 else None


@remedy(
    "accumulate",
    "averages 4 micro-batches per optimizer step: a less noisy gradient, fewer spikes, same memory",
    treats={Target.EXPLODING_GRADIENT: 8, Target.UPDATE_RATIO_HIGH: 3},
)
def _accumulate(cfg: ConfigView) -> Patch | None:
    acc = cfg.train.accumulate
    return {"train.accumulate": 4} if acc in (None, 1) else None


@remedy(
    "l2",
    "an L2 penalty pulls weights toward zero, keeping pre-activations small: fewer saturated "
    "sigmoid/tanh units and no runaway weight growth",
    treats={Target.SATURATION: 6, Target.EXPLODING_GRADIENT: 10, Target.VANISHING_GRADIENT: 11},
)
def _l2(cfg: ConfigView) -> Patch | None:
    l2 = cfg.train.l2
    return {"train.l2": 1e-4} if not l2 else None


@remedy(
    "l1",
    "an L1 penalty drives small weights to exactly zero; it bounds weight growth more weakly than L2",
    treats={Target.EXPLODING_GRADIENT: 11, Target.SATURATION: 9},
)
def _l1(cfg: ConfigView) -> Patch | None:
    l1 = cfg.train.l1
    return {"train.l1": 1e-5} if not l1 else None


# -- depth (docs/depth.md): deep dense nets only ------------------------------------------------------

# Hidden layers per side from which a dense net is deep: the depth remedies apply from here. Measured (digits, width 64,
# Adam 1e-3, 5 epochs; test MSE over trivial at depth 16 / 32 / 64): plain relu 0.82 / 0.93 / 0.99; residual + layer
# norm 0.58 / 1.24 / 4.31; rezero 0.43 / 0.37 / 0.34; pre-activation blocks with zero-initialised branches (skipinit)
# 0.23 / 0.24 / 0.29; tanh + orthogonal_critical 0.27 / 0.85 / 1.02.
DEEP = 16
# The depth a run's learning rate is taken to be tuned at (depth_scaled_lr): lr * sqrt(LR_REF_DEPTH / depth).
LR_REF_DEPTH = 8


def _hidden_layers(cfg: ConfigView) -> int | None:
    """Hidden layers per side of a dense (mlp) net, None for other kinds or when unknown."""
    if cfg.model.kind != "mlp":
        return None
    depth, widths = cfg.model.depth, cfg.model.widths
    return depth if depth is not None else len(widths) if isinstance(widths, list) else None


def _deep(cfg: ConfigView) -> bool:
    n = _hidden_layers(cfg)
    return n is not None and n >= DEEP


def _deep_residual(cfg: ConfigView) -> bool:
    """Deep, with equal-width hidden neighbours for residual blocks (config.py refuses the options otherwise)."""
    if not _deep(cfg):
        return False
    if cfg.model.depth is not None:
        return True  # depth >= DEEP layers of one width
    widths = cfg.model.widths
    return any(a == b for a, b in zip(widths[:-1], widths[1:]))


def _pre(cfg: ConfigView, **extra: object) -> Patch:
    """Pre-activation residual blocks, plus `extra` (dotted keys with the "model." left off)."""
    return {"model.residual": True, "model.residual_style": "pre", **{f"model.{k}": v for k, v in extra.items()}}


@remedy(
    "rezero",
    "x + a*f(x) with a learned scalar a starting at 0: every residual block starts as the identity, so the "
    "gradient crosses any depth unchanged and the net grows into its depth (Bachlechner et al. 2020; measured: "
    "0.37x the trivial MSE at depth 32, where residual + layer norm ends at 1.24x)",
    treats={Target.VANISHING_GRADIENT: 1, Target.EXPLODING_GRADIENT: 12},
)
def _rezero(cfg: ConfigView) -> Patch | None:
    if not _deep_residual(cfg) or (cfg.model.residual and cfg.model.branch_scale == "rezero"):
        return None
    patch: Patch = {"model.residual": True, "model.branch_scale": "rezero"}
    if cfg.model.branch_init == "zero":  # a = 0 and W = 0 would give each other zero gradients
        patch["model.branch_init"] = "default"
    return patch


@remedy(
    "skipinit",
    "pre-activation residual blocks x + W act(x) whose last layer W starts at zero: each block is the identity "
    "at initialisation, so depth neither shrinks nor grows the gradient, without a norm (De & Smith 2020; Fixup, "
    "Zhang et al. 2019; measured: 0.24x the trivial MSE at depth 32)",
    treats={Target.VANISHING_GRADIENT: 1, Target.EXPLODING_GRADIENT: 12},
)
def _skipinit(cfg: ConfigView) -> Patch | None:
    m = cfg.model
    if not _deep_residual(cfg) or (m.residual and m.residual_style == "pre" and m.branch_init == "zero"):
        return None
    patch = _pre(cfg, branch_init="zero")
    if m.branch_scale == "rezero":  # W = 0 and a = 0 would give each other zero gradients
        patch["model.branch_scale"] = "none"
    return patch


@remedy(
    "layerscale",
    "x + diag(g) f(x), one learned scale per feature starting at 1e-4: every residual branch starts small, "
    "so many blocks add up to a net near the identity that trains at depth (Touvron et al. 2021)",
    treats={Target.VANISHING_GRADIENT: 12, Target.EXPLODING_GRADIENT: 13},
)
def _layerscale(cfg: ConfigView) -> Patch | None:
    if not _deep_residual(cfg) or (cfg.model.residual and cfg.model.branch_scale == "layerscale"):
        return None
    return {"model.residual": True, "model.branch_scale": "layerscale"}


@remedy(
    "pre_norm_residual",
    "pre-activation residual blocks x + W act(norm(x)): the norm sits inside the branch and the identity path "
    "carries x untouched, so the gradient reaches early layers through it unchanged (He et al. 2016, "
    "\"Identity Mappings\"; Xiong et al. 2020)",
    treats={Target.VANISHING_GRADIENT: 12},
)
def _pre_norm_residual(cfg: ConfigView) -> Patch | None:
    m = cfg.model
    normed = m.norm in ("layer", "batch")
    if not _deep_residual(cfg) or (m.residual and m.residual_style == "pre" and normed):
        return None
    return _pre(cfg) if normed else _pre(cfg, norm="layer")


@remedy(
    "depth_scaled_init",
    "pre-activation residual blocks whose last layer starts at the init's weights times L^-1/2 (L blocks per "
    "side): L branches add up to O(1) variance instead of O(L) (Fixup-style, Zhang et al. 2019); with layer "
    "norm, which it needs here (measured: 0.36x the trivial MSE at depth 32 with it, 4.2x at depth 64 without)",
    treats={Target.VANISHING_GRADIENT: 13, Target.EXPLODING_GRADIENT: 14},
)
def _depth_scaled_init(cfg: ConfigView) -> Patch | None:
    m = cfg.model
    if not _deep_residual(cfg) or (m.residual and m.residual_style == "pre" and m.branch_init == "depth"):
        return None
    patch = _pre(cfg, branch_init="depth")
    if m.norm not in ("layer", "batch"):
        patch["model.norm"] = "layer"
    if m.branch_scale == "rezero":
        patch["model.branch_scale"] = "none"
    return patch


@remedy(
    "orthogonal_critical",
    "orthogonal weights at the critical point (gain 1/act'(0)) keep every singular value of the input-output "
    "Jacobian near 1, so a deep tanh net without skips passes gradients undiminished (dynamical isometry: Saxe et "
    "al. 2014; Pennington, Schoenholz & Ganguli 2017); a sigmoid net becomes tanh, the sigmoid centred at zero "
    "(sigmoid(x) = 1/2 + tanh(x/2)/2), whose mean 1/2 would move each next layer off the critical point "
    "(measured: tanh 0.27x the trivial MSE at depth 16, sigmoid 1.0x)",
    treats={Target.VANISHING_GRADIENT: 2, Target.SATURATION: 10},
)
def _orthogonal_critical(cfg: ConfigView) -> Patch | None:
    m = cfg.model
    if not _deep(cfg) or m.residual or m.activation not in BOUNDED:
        return None
    if m.activation == "tanh":
        return None if m.init == "orthogonal_critical" else {"model.init": "orthogonal_critical"}
    return {"model.activation": "tanh", "model.init": "orthogonal_critical"}


@remedy(
    "lr_warmup",
    "the learning rate ramps up linearly over the first train.warmup_steps (100) steps: a deep net's first updates, "
    "taken while "
    "Adam's moment estimates are still noisy, are its largest and can throw it off (Goyal et al. 2017; Liu et al. "
    "2020; measured: pre-activation zero-init blocks at depth 64, lr 3e-3: 4.95x the trivial MSE without, 0.28x "
    "with)",
    treats={Target.EXPLODING_GRADIENT: 3, Target.OVERSIZE_UPDATE: 4},
)
def _lr_warmup(cfg: ConfigView) -> Patch | None:
    with_warmup = {"constant": "warmup", "cosine": "warmup_cosine"}.get(cfg.train.schedule)
    if not _deep(cfg) or with_warmup is None:
        return None  # already warmed up, or a schedule with no warm-up form
    patch: Patch = {"train.schedule": with_warmup}
    if cfg.train.warmup_steps == 0:
        patch["train.warmup_steps"] = 100
    return patch


def depth_scaled_lr(lr: float, depth: int, ref_depth: int = LR_REF_DEPTH) -> float:
    """lr * sqrt(ref_depth / depth): Adam's rate scaled as depth^-1/2, as Depth-muP prescribes for Adam (Yang et al.
    2023, "Tensor Programs VI"; Bordelon et al. 2023), from a rate taken to be tuned at `ref_depth`; 3 digits."""
    return _round_lr(lr * (ref_depth / depth) ** 0.5)


@remedy(
    "depth_scaled_lr",
    "Adam moves every weight by about lr per step, so L layers move the output about L times as far: a rate "
    "scaled as depth^-1/2 from one tuned at depth 8 (Depth-muP for Adam, Yang et al. 2023; measured: "
    "depth-scaled-init blocks at depth 64: 4.2x the trivial MSE at lr 1e-3, 0.32x at 3.5e-4)",
    treats={Target.EXPLODING_GRADIENT: 12, Target.OVERSIZE_UPDATE: 5},
)
def _depth_scaled_lr(cfg: ConfigView) -> Patch | None:
    lr, n = cfg.train.lr, _hidden_layers(cfg)
    if not _deep(cfg) or lr is None or n is None or cfg.train.optimizer not in ("adam", "adamw"):
        return None
    return {"train.lr": depth_scaled_lr(lr, n)}
