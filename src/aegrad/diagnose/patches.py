"""Patches as text: ``--set`` flags for an aegrad model, words for any other PyTorch model.

A patch is a dict of dotted aegrad config keys, exactly what ``aegrad train --set key=value`` (and
``config.with_overrides``) accepts, so every finding ends in a command that can be run. For a model
aegrad did not build, those flags would mean nothing: ``describe_patch`` says the same change in words.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

import yaml

Patch = dict[str, Any]


def format_value(value: Any) -> str:
    """A value as the YAML scalar/flow text that ``--set`` parses back to the same value."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text.removesuffix("...").strip()


def format_patch(patch: Patch) -> str:
    """A patch as command-line flags: ``--set model.activation=leaky_relu --set train.lr=0.0001``."""
    return " ".join(f"--set {shlex.quote(f'{k}={format_value(v)}')}" for k, v in patch.items())


# -- a patch in words, for a model aegrad did not build -------------------------------------------


def _activation_words(name: Any) -> str:
    # Imported here: the family detectors import this module (through catalogue.py) while aegrad.models,
    # which holds the activation registry, is still importing them.
    from aegrad.models.activations import get_activation

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
    "orthogonal_critical": "orthogonal weights at the critical gain 1/act'(0), 1 before tanh and 4 before sigmoid, "
    "and zero biases (torch.nn.init.orthogonal_)",
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
    "model.residual_style": lambda v: "put the norm and activation inside each residual branch, "
    "x + W act(norm(x)), the skip path untouched (pre-activation blocks)" if v == "pre"
    else "use residual blocks x + act(norm(W x))",
    "model.branch_scale": lambda v: {"rezero": "multiply each residual branch by a learned scalar that starts at 0 "
                                               "(ReZero)",
                                     "layerscale": "multiply each residual branch by a learned per-feature scale "
                                                   "that starts at 1e-4 (LayerScale)"}.get(
                                         v, "leave the residual branches unscaled"),
    "model.branch_init": lambda v: {"zero": "initialise each residual branch's last linear layer to zero (SkipInit)",
                                    "depth": "scale each residual branch's last linear layer at initialisation by "
                                             "1/sqrt(number of residual blocks)"}.get(
                                        v, "initialise the residual branches like the other layers"),
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
    "train.schedule": lambda v: {"warmup": "ramp the learning rate up linearly over the first steps, then hold it",
                                 "warmup_cosine": "ramp the learning rate up linearly over the first steps, then "
                                                  "decay it on a cosine"}.get(v, f"use the {v} learning-rate schedule"),
    "train.warmup_steps": lambda v: f"warm the learning rate up over {v} optimizer steps",
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
