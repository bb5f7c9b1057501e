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
"""

from __future__ import annotations

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
    if cfg.model.residual:
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
