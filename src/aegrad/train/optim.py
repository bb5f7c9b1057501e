"""The optimizer registry: ``create_optimizer`` / ``list_optimizers`` and ``param_groups``.

Every optimizer is a ``torch.optim`` class with the fastest safe implementation
for the parameters' device: ``fused=True`` where torch has a fused kernel
(SGD family, Adam, AdamW, Adagrad) and the parameters are floating point on
CPU or CUDA, ``foreach=True`` otherwise. On a 2-core CPU, fused Adam/AdamW step
a 1M-parameter MLP 4-9x faster than foreach or the per-tensor loop, fused
momentum/Nesterov SGD and Adagrad 2-5x; plain SGD is the same either way
(RMSprop has no fused kernel, and foreach ties the loop there). The fused kernels match the reference updates to float32
rounding (tests/train/test_optim.py checks it).

Weight decay
------------
``cfg.weight_decay`` is *decoupled* for every optimizer (Loshchilov & Hutter
2019, "Decoupled Weight Decay Regularization"): before each update,
w <- w - lr * wd * w, outside the gradient, so it never enters momentum or
Adam's moments. AdamW does this natively; for the others a step pre-hook
applies it from each group's ``decoupled_wd`` key (torch's own
``weight_decay`` key, which would add wd*w to the gradient, stays 0). This is
distinct from ``cfg.l2``, a loss penalty (``penalties.weight_penalty``) whose
gradient flows through the optimizer like any other. Consequently ``adam`` with
weight decay is AdamW; the two names differ only in which code path decays.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.optim.optimizer as _optimizer_module
from torch import nn

from aegrad.config import TrainConfig
from aegrad.registry import Registry
from aegrad.train.penalties import split_weights

ParamsOrGroups = Iterable[torch.Tensor] | Iterable[dict[str, Any]]
# (param groups, cfg, implementation kwargs: fused/foreach) -> optimizer
OptimizerBuilder = Callable[[list[dict[str, Any]], TrainConfig, dict[str, bool]], torch.optim.Optimizer]

OPTIMIZERS: Registry[OptimizerBuilder] = Registry("optimizer")
register_optimizer = OPTIMIZERS.register

DECOUPLED_WD = "decoupled_wd"  # param-group key read by the decay pre-hook (non-AdamW optimizers)


def list_optimizers() -> list[str]:
    """The registered optimizer names (equal to config's ``Optimizer`` choices)."""
    return OPTIMIZERS.names()


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    """Two groups: Linear/Conv weights (decayed by ``cfg.weight_decay``) and everything else (never decayed).

    Biases, normalisation scales/shifts and PReLU slopes are left undecayed:
    shrinking them towards zero does not regularise the function and can hurt.
    Only trainable parameters are listed; an empty group is dropped.
    """
    weights, others = split_weights(model)
    groups = [
        {"params": weights, "weight_decay": cfg.weight_decay, "name": "weights"},
        {"params": others, "weight_decay": 0.0, "name": "no_decay"},
    ]
    return [g for g in groups if g["params"]]


def create_optimizer(params_or_groups: ParamsOrGroups, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The ``cfg.optimizer`` optimizer over parameters or param groups.

    Groups are dicts with ``"params"`` and optionally ``"weight_decay"`` (the
    decoupled rate for that group; default ``cfg.weight_decay``), as
    ``param_groups`` builds them. A plain iterable of tensors is one group
    decayed by ``cfg.weight_decay``.
    """
    items = list(params_or_groups)
    if items and isinstance(items[0], dict):
        groups = [{**g, "params": list(g["params"])} for g in items]
    else:
        groups = [{"params": items}]
    for g in groups:
        g.setdefault("weight_decay", cfg.weight_decay)
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ValueError("create_optimizer got no parameters to optimise")
    return OPTIMIZERS.get(cfg.optimizer)(groups, cfg, _implementation(groups))


def _implementation(groups: list[dict[str, Any]]) -> dict[str, bool]:
    """``fused=True`` when every parameter is a float tensor on CPU/CUDA (fastest measured), else foreach."""
    params = [p for g in groups for p in g["params"]]
    fusable = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return {"fused": True} if fusable else {"foreach": True}


def _decouple(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Move each group's decay rate to ``decoupled_wd`` so torch's coupled (L2-style) decay stays 0."""
    return [{**g, DECOUPLED_WD: float(g["weight_decay"]), "weight_decay": 0.0} for g in groups]


@torch.no_grad()
def _decoupled_decay_hook(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    """w <- w * (1 - lr * wd) for every parameter about to be updated (it has a gradient), as AdamW orders it."""
    for g in optimizer.param_groups:
        wd = g.get(DECOUPLED_WD, 0.0)
        params = [p for p in g["params"] if p.grad is not None]
        if wd and params:
            torch._foreach_mul_(params, 1.0 - float(g["lr"]) * wd)


def _with_decoupled_decay(opt: torch.optim.Optimizer) -> torch.optim.Optimizer:
    opt.register_step_pre_hook(_decoupled_decay_hook)
    return opt


@register_optimizer("sgd")
def _sgd(groups: list[dict[str, Any]], cfg: TrainConfig, impl: dict[str, bool]) -> torch.optim.Optimizer:
    """Plain gradient descent: w <- w - lr * g."""
    return _with_decoupled_decay(torch.optim.SGD(_decouple(groups), lr=cfg.lr, momentum=0.0, **impl))


@register_optimizer("momentum")
def _momentum(groups: list[dict[str, Any]], cfg: TrainConfig, impl: dict[str, bool]) -> torch.optim.Optimizer:
    """Heavy ball (Polyak 1964) in torch's form: v <- mu * v + g (v_1 = g_1); w <- w - lr * v."""
    return _with_decoupled_decay(torch.optim.SGD(_decouple(groups), lr=cfg.lr, momentum=cfg.momentum, **impl))


@register_optimizer("nesterov")
def _nesterov(groups: list[dict[str, Any]], cfg: TrainConfig, impl: dict[str, bool]) -> torch.optim.Optimizer:
    """Nesterov momentum (Sutskever et al. 2013, as torch writes it): v <- mu*v + g; w <- w - lr*(g + mu*v)."""
    opt = torch.optim.SGD(_decouple(groups), lr=cfg.lr, momentum=cfg.momentum, nesterov=True, **impl)
    return _with_decoupled_decay(opt)


@register_optimizer("adam")
def _adam(groups: list[dict[str, Any]], cfg: TrainConfig, impl: dict[str, bool]) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015) with bias-corrected moments; weight decay decoupled (so with wd it is AdamW)."""
    opt = torch.optim.Adam(_decouple(groups), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, **impl)
    return _with_decoupled_decay(opt)


@register_optimizer("adamw")
def _adamw(groups: list[dict[str, Any]], cfg: TrainConfig, impl: dict[str, bool]) -> torch.optim.Optimizer:
    """AdamW (Loshchilov & Hutter 2019): Adam plus w <- w - lr * wd * w, natively."""
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay, **impl)


@register_optimizer("rmsprop")
def _rmsprop(groups: list[dict[str, Any]], cfg: TrainConfig, impl: dict[str, bool]) -> torch.optim.Optimizer:
    """RMSprop (Hinton 2012): s <- alpha*s + (1-alpha)*g^2; w <- w - lr * g / (sqrt(s) + eps). No fused kernel."""
    opt = torch.optim.RMSprop(_decouple(groups), lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps, foreach=True)
    return _with_decoupled_decay(opt)


@register_optimizer("adagrad")
def _adagrad(groups: list[dict[str, Any]], cfg: TrainConfig, impl: dict[str, bool]) -> torch.optim.Optimizer:
    """Adagrad (Duchi et al. 2011): s <- s + g^2; w <- w - lr * g / (sqrt(s) + eps)."""
    return _with_decoupled_decay(torch.optim.Adagrad(_decouple(groups), lr=cfg.lr, eps=cfg.eps, **impl))


def fused_adam_step(optimizer: torch.optim.Optimizer) -> bool:
    """One Adam/AdamW update straight through torch's fused CPU kernel; False (nothing done) when it does not apply.

    ``optimizer.step()`` spends ~0.1 ms per call on Python around the kernel (grouping
    tensors, hooks, our decoupled-decay pre-hook): ~2% of an RT1 step. This calls
    ``torch._fused_adam_`` / ``torch._fused_adamw_`` with the optimizer's own state
    tensors, so checkpoints, resume and rollback see the same state either way; the
    decoupled decay rides in the AdamW kernel (w <- w(1 - lr wd) before the update,
    as the pre-hook does). It creates missing state as ``Adam`` does (zero moments,
    a float32 step count) and applies to fused, non-amsgrad Adam/AdamW on the CPU with
    every parameter holding a gradient and no hooks but ours; tests check it equals
    ``step()`` bit for bit. (It also never imports ``torch._dynamo``, which
    ``Optimizer.step`` does on first use: ~1 s of a short run's start-up.)
    """
    if not _fused_adam_applies(optimizer):
        return False
    calls = []
    for g in optimizer.param_groups:
        call = _fused_group_call(optimizer, g)
        if call is None:
            return False
        calls.append(call)
    _run_fused_kernels(_merge_fused_calls(calls))
    return True


def _fused_adam_applies(optimizer: torch.optim.Optimizer) -> bool:
    """Whether the optimizer is a plain Adam/AdamW with no hooks but our decoupled-decay pre-hook."""
    if type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW):
        return False
    pre = list(optimizer._optimizer_step_pre_hooks.values())
    if any(h is not _decoupled_decay_hook for h in pre) or optimizer._optimizer_step_post_hooks:
        return False
    return not (_optimizer_module._global_optimizer_pre_hooks or _optimizer_module._global_optimizer_post_hooks)


def _fused_group_call(optimizer: torch.optim.Optimizer, g: dict) -> tuple | None:
    """One param group's kernel arguments (creating missing state as Adam does); None when the kernel does not apply."""
    if not g.get("fused") or g["amsgrad"] or g["maximize"] or g["capturable"] or g["differentiable"]:
        return None
    lr = g["lr"]
    if isinstance(lr, torch.Tensor):
        return None
    params, grads, avgs, sqs, steps = [], [], [], [], []
    for p in g["params"]:
        if p.grad is None or p.device.type != "cpu" or p.grad.is_sparse or p.is_complex():
            return None
        state = optimizer.state[p]
        if not state:  # as Adam._init_group creates it for a fused group
            state["step"] = torch.zeros((), dtype=_optimizer_module._get_scalar_dtype(is_fused=True))
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        params.append(p)
        grads.append(p.grad)
        avgs.append(state["exp_avg"])
        sqs.append(state["exp_avg_sq"])
        steps.append(state["step"])
    if type(optimizer) is torch.optim.AdamW:
        decay, decoupled = float(g["weight_decay"]), True
    else:  # our adam: torch's coupled decay stays 0, the decoupled rate is applied as AdamW does
        hooked = bool(optimizer._optimizer_step_pre_hooks)
        decoupled_rate = float(g.get(DECOUPLED_WD, 0.0)) if hooked else 0.0
        decay, decoupled = (decoupled_rate, True) if decoupled_rate else (float(g["weight_decay"]), False)
    return (params, grads, avgs, sqs, steps, float(lr), g["betas"], g["eps"], decay, decoupled)


def _merge_fused_calls(calls: list[tuple]) -> dict[tuple, tuple[list[torch.Tensor], ...]]:
    """Groups with the same hyperparameters (weights and biases when nothing is decayed) share one
    kernel call: the kernel updates each tensor on its own, so the result is the same bit for bit."""
    merged: dict[tuple, tuple[list[torch.Tensor], ...]] = {}
    for params, grads, avgs, sqs, steps, *hyper in calls:
        key = (hyper[0], tuple(hyper[1]), *hyper[2:])
        lists = merged.setdefault(key, ([], [], [], [], []))
        for acc, more in zip(lists, (params, grads, avgs, sqs, steps)):
            acc.extend(more)
    return merged


def _run_fused_kernels(merged: dict[tuple, tuple[list[torch.Tensor], ...]]) -> None:
    """Count the step, then one fused Adam/AdamW kernel call per hyperparameter set."""
    steps_all = [st for lists in merged.values() for st in lists[4]]
    with torch.no_grad():
        if steps_all:
            torch._foreach_add_(steps_all, 1)
        for (lr, (beta1, beta2), eps, decay, decoupled), (params, grads, avgs, sqs, steps) in merged.items():
            if not params:
                continue
            kernel = torch._fused_adamw_ if decoupled else torch._fused_adam_
            kernel(
                params,
                grads,
                avgs,
                sqs,
                [],
                steps,
                amsgrad=False,
                lr=lr,
                beta1=float(beta1),
                beta2=float(beta2),
                weight_decay=decay,
                eps=float(eps),
                maximize=False,
            )


def defer_dynamo_import() -> None:
    """Let this process build, save and load optimizers without importing ``torch._dynamo`` (~1 s).

    torch wraps ``Optimizer.add_param_group``, ``zero_grad``, ``state_dict`` and
    ``load_state_dict`` in ``torch._disable_dynamo``, which imports dynamo on the
    first call to build a "do not trace this" wrapper and caches it on the function
    as ``__dynamo_disable``. Outside ``torch.compile`` that wrapper only calls the
    method, so for a process that never compiles we cache the method itself. The CLI
    calls this for runs with ``train.compile: false``; the library never does (a
    user's own process may compile). A torch without these attributes is left alone.
    """
    if "torch._dynamo" in sys.modules:
        return
    for name in ("add_param_group", "zero_grad", "state_dict", "load_state_dict"):
        fn = getattr(getattr(torch.optim.Optimizer, name), "__wrapped__", None)
        if callable(fn) and getattr(fn, "__dynamo_disable", None) is None:
            fn.__dynamo_disable = fn  # type: ignore[attr-defined]
