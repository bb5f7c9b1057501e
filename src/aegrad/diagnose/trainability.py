"""Trainability before the first step: from one batch at initialisation, can this net train at all?

Three measurements of the untrained net on one batch, each a pure function of the model and the batch
(Glorot & Bengio 2010 traced failing deep nets to the first two; Saxe et al. 2014 and Pennington et al.
2017 to the third):

forward    per parameterised layer (``stats.param_layers``, forward order), the RMS of its output and its
           *sample spread*: the RMS of the output minus its batch mean, over the output's RMS. A spread
           near 0 means every sample reaches that layer as the same point: the input is lost.
backward   per layer, the norm and RMS of ``d loss / d W`` from one backward of the objective (the
           reconstruction MSE by default), and the first layer's gradient RMS over the last one's.
Jacobian   the top singular values of each sample's input -> output Jacobian J, by randomised subspace
           iteration (Halko, Martinsson & Tropp 2011, Alg. 4.4) on Jacobian-vector products J v and
           vector-Jacobian products J^T u, both taken from one forward graph (so dropout and sampling
           noise are the same function for every product). Its gain (the top singular value) says how
           much the output moves with the input; its spread (top over k-th) how unevenly.

``trainability(model, x)`` returns the measurements as a ``TrainabilityReport``; ``check_findings(report)``
turns them into an ``untrainable_at_init`` finding whose remedies are the catalogue's for vanishing or
exploding gradients, ranked. The model is left as it was found: gradients are taken with
``torch.autograd.grad`` (no ``.grad`` written), buffers (batch-norm statistics) are restored, and the
global RNG is forked. The thresholds are named constants below with the measurements that placed them
(docs/trainability.md has the tables).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aegrad.diagnose.catalogue import Finding, advice, sig
from aegrad.diagnose.kinds import Kind, Severity, Target
from aegrad.diagnose.stats import param_layers, tensor_norms

# An objective as aegrad's are called: (target, the model's named outputs) -> terms with a "loss" entry.
ObjectiveFn = Callable[[Tensor, dict[str, Tensor]], dict[str, Tensor]]

# Thresholds, placed by measurement (docs/trainability.md has the table): digits (batch 64) and Fashion-MNIST
# (batch 128) MLPs, sigmoid/tanh/relu at depths 1 to 16, too-large inits, and every built-in preset. Every
# net they flag failed to train; every net measured to train passes.
#
# Vanishing: the first/last gradient RMS, the collapse (smallest over first layer sample spread) and the
# Jacobian gain below these; in sigmoid/tanh nets the three move together (x0.14 per layer for sigmoid with
# PyTorch's default init). The deepest such net that trains, Fashion's sigmoid MLP at 3 hidden layers a side,
# measured 5.9e-6, 3.9e-6, 6.0e-6 (0.35x the trivial MSE); the shallowest that does not, its depth-4 sibling,
# 1.5e-7, 2.0e-7, 1.4e-7 (digits' 2.8e-8, 2.6e-7, 4.5e-8); 1e-6 is near the geometric middle, and above the
# collapse's float32 floor (~1e-7: sigmoid outputs equal to 7 digits). The naive digits depth-16 sigmoid net:
# 1.3e-28, 8.5e-8, 2.7e-28. The presets: at least 0.082, 0.17, 0.064.
VANISH_RATIO = 1e-6
COLLAPSE_RATIO = 1e-6
GAIN_MIN = 1e-6
# Exploding: layer output RMS growing this much from the first layer to the largest. Nets that train: up to
# 13.5 (relu, residual + layer norm, depth 16: the skips add up); relu at depth 4 with init_gain 3 grows
# 1.9e4x, with 20, 4.8e11x.
ACTIVATION_GROWTH = 1e3
# Exploding: the Jacobian's top-4 spread above this many decades. Nets that train: at most 0.54 (tanh/xavier,
# depth 16); grown pre-activations that pin the sigmoid output spread 22 decades (relu, depth 4, init_gain 2) and
# 23 (depth 8, init_gain 1.5). The spread does not separate the sigmoid nets: their spectrum is uniformly
# tiny (the naive net's top 4 within 2.7x), it is their gain that is 28 decades down.
SPREAD_DECADES = 3.0
# Exploding: first/last gradient RMS above this, the mirror of VANISH_RATIO. A uniformly too-large init
# scales forward and backward alike (relu, init_gain 1.25 to 3: 0.14 to 0.28), so growth and spread carry the
# exploding side; the codec presets measure 1.0e3 to 1.3e3 (their last layer in module order is the
# hyperprior's).
EXPLODE_RATIO = 1e6


# -- the measurements -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerScale:
    """One parameterised layer at initialisation, on one batch."""

    name: str  # as named_modules gives it (a recurrent matrix: <module>.<parameter>)
    forward_rms: float  # RMS of the layer's output over the batch; NaN for a recurrent matrix (no output of its own)
    sample_spread: float  # RMS of (output - its batch mean) / RMS of output: ~0 when every sample gives one point
    grad_norm: float  # ||d loss / d W|| of the layer's weight, in float64
    grad_rms: float  # grad_norm / sqrt(numel): comparable across layers of different size


@dataclass(frozen=True)
class JacobianSpectrum:
    """The top singular values of each sample's input -> output Jacobian (randomised subspace iteration)."""

    singular_values: tuple[float, ...]  # sigma_1 >= ... >= sigma_k, each the median over the samples
    spread: float  # the median over the samples of sigma_1 / sigma_k (inf: sigma_k is 0; NaN: so is sigma_1)
    samples: int  # samples whose Jacobians were estimated
    products: int  # Jacobian-vector plus vector-Jacobian products taken
    mode: str = "train"  # the model's mode: "eval" where its training forward samples its input (a Bernoulli VAE)

    @property
    def gain(self) -> float:
        """sigma_1: how far the output moves, at most, per unit move of the input."""
        return self.singular_values[0]

    @property
    def decades(self) -> float:
        """log10 of the spread: the orders of magnitude between the top and the k-th singular value."""
        return math.log10(self.spread) if self.spread > 0 else math.nan


@dataclass(frozen=True)
class TrainabilityReport:
    """What ``trainability`` measured; ``to_dict()`` is the JSON ``aegrad check --json`` prints."""

    layers: tuple[LayerScale, ...]  # forward order
    loss: float  # the objective on the batch, at initialisation
    batch: int  # samples in the batch
    jacobian: JacobianSpectrum | None  # None when it is not defined (see jacobian_skipped)
    jacobian_skipped: str = ""  # why the Jacobian was not measured ("" when it was)

    @property
    def first_last_grad_ratio(self) -> float:
        """The first layer's gradient RMS over the last one's (inf: the last has none; NaN: neither has)."""
        if len(self.layers) < 2:
            return math.nan
        first, last = self.layers[0].grad_rms, self.layers[-1].grad_rms
        if last > 0:
            return first / last
        return math.inf if first > 0 else math.nan

    @property
    def activation_growth(self) -> float:
        """The largest layer output RMS over the first layer's."""
        rms = [la.forward_rms for la in self.layers if math.isfinite(la.forward_rms)]
        return max(rms) / rms[0] if len(rms) >= 2 and rms[0] > 0 else math.nan

    @property
    def collapse(self) -> float:
        """The smallest layer sample spread over the first layer's: ~0 when the samples merge on the way."""
        spread = [la.sample_spread for la in self.layers if math.isfinite(la.sample_spread)]
        return min(spread) / spread[0] if len(spread) >= 2 and spread[0] > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        jac: dict[str, Any] | None = None
        if self.jacobian is not None:
            j = self.jacobian
            jac = {"gain": sig(j.gain), "spread": sig(j.spread), "spread_decades": sig(j.decades),
                   "singular_values": [sig(s) for s in j.singular_values], "samples": j.samples,
                   "products": j.products, "mode": j.mode}
        return {
            "loss": sig(self.loss, 6),
            "batch": self.batch,
            "first_last_grad_ratio": sig(self.first_last_grad_ratio),
            "activation_growth": sig(self.activation_growth),
            "collapse": sig(self.collapse),
            "jacobian": jac,
            "jacobian_skipped": self.jacobian_skipped or None,
            "layers": [{"name": la.name, "forward_rms": sig(la.forward_rms), "sample_spread": sig(la.sample_spread),
                        "grad_norm": sig(la.grad_norm), "grad_rms": sig(la.grad_rms)} for la in self.layers],
        }


def jacobian_singular_values(f: Callable[[Tensor], Tensor], x: Tensor, k: int = 4, iters: int = 1,
                             seed: int = 0) -> tuple[Tensor, int]:
    """The top `k` singular values of each sample's Jacobian d f(x)_n / d x_n: ((N, k) float64, products taken).

    Randomised subspace iteration (Halko, Martinsson & Tropp 2011, Alg. 4.4): Y = J Omega for k Gaussian
    probes per sample, orthonormalised; `iters` rounds of Z = J^T Q, Y = J Z; then the singular values of
    B = Q^T J (read as J^T Q). Exact when k covers the Jacobian's rank; otherwise the top values converge
    first. One forward of `f` serves every product: J^T u is a backward, and J v the backward of the
    backward, d/du <J^T u, v> (the "double-vjp" trick), so no forward-mode formulas are needed and noise
    inside `f` is the same draw for every product. Samples must not interact in `f` (batch norm in training
    mode couples them weakly; its cross terms are ignored). `k` is cut to the input's and output's sizes.
    """
    x = x.detach().requires_grad_(True)
    y = f(x)
    n, d_in, d_out = x.shape[0], x[0].numel(), y[0].numel()
    k = max(1, min(k, d_in, d_out))
    # Every product is the gradient of a scalar, <y, u> or <J^T u0, v>: autograd.grad given a grad_outputs
    # tensor imports sympy on first use (~0.4 s, more than the whole check of a preset).
    u0 = torch.zeros_like(y, requires_grad=True)
    (g,) = torch.autograd.grad((y * u0).sum(), x, create_graph=True, allow_unused=True)  # J^T u0, linear in u0
    if g is None or not g.requires_grad:  # no path from x to y that autograd differentiates (sampled, rounded)
        raise NotDifferentiable("the output does not depend differentiably on the input")

    def jvp(v: Tensor) -> Tensor:  # (N, d_in, k) -> (N, d_out, k)
        cols = [torch.autograd.grad((g * v[..., j].reshape(x.shape).to(x.dtype)).sum(), u0, retain_graph=True)[0]
                for j in range(v.shape[-1])]
        return torch.stack([c.reshape(n, d_out) for c in cols], dim=-1).double()

    def vjp(u: Tensor) -> Tensor:  # (N, d_out, k) -> (N, d_in, k)
        cols = [torch.autograd.grad((y * u[..., j].reshape(y.shape).to(y.dtype)).sum(), x, retain_graph=True)[0]
                for j in range(u.shape[-1])]
        return torch.stack([c.reshape(n, d_in) for c in cols], dim=-1).double()

    gen = torch.Generator(device=x.device).manual_seed(seed)
    omega = torch.randn(n, d_in, k, generator=gen, device=x.device, dtype=torch.float64)
    q = torch.linalg.qr(jvp(omega)).Q
    for _ in range(iters):
        z = torch.linalg.qr(vjp(q)).Q
        q = torch.linalg.qr(jvp(z)).Q
    s = torch.linalg.svdvals(vjp(q))  # B^T = J^T Q, (N, d_in, k): the singular values of B = Q^T J
    return s, k * (2 * iters + 2)


class NotDifferentiable(ValueError):
    """The function's output has no differentiable path from its input (it samples or rounds it)."""


def _outputs(out: Tensor | dict[str, Tensor]) -> dict[str, Tensor]:
    """A model's outputs by name: aegrad models return them; a bare tensor is the reconstruction."""
    return out if isinstance(out, dict) else {"x_hat": out}


@contextmanager
def _left_as_found(model: nn.Module, device: torch.device, seed: int) -> Iterator[None]:
    """Train mode and a seeded, forked RNG inside; the modes, buffers (batch-norm statistics) and RNG restored."""
    modes = [m.training for m in model.modules()]
    buffers = [b.detach().clone() for b in model.buffers()]
    devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            model.train()
            yield
    finally:
        for m, mode in zip(model.modules(), modes):
            m.training = mode
        with torch.no_grad():
            for b, saved in zip(model.buffers(), buffers):
                b.copy_(saved)


def trainability(model: nn.Module, x: Tensor, objective: ObjectiveFn | None = None, probes: int = 4,
                 seed: int = 0, jacobian_samples: int = 8, iters: int = 1) -> TrainabilityReport:
    """Forward scale, backward scale and the input -> output Jacobian of `model` on the batch `x`.

    objective: aegrad's ``Objective`` call, ``(target, outputs) -> {"loss": ...}``, with `x` the target;
    None: the MSE of ``outputs["x_hat"]`` (or of a model returning a tensor) against `x`. probes: the
    singular values estimated (k); jacobian_samples: how many of the batch's samples (each Jacobian is
    per sample); iters: subspace iterations. Nothing of the model changes (see the module docstring).
    Token ids (an integer `x`) have no Jacobian: it is skipped, with the reason in the report.
    """
    layers = [(n, la) for n, la in param_layers(model) if la.weight.requires_grad]
    sums: dict[str, list[float]] = {n: [0.0, 0.0, 0.0] for n, _ in layers}  # calls, mean square, spread
    device = x.device

    def hook(name: str) -> Callable[[nn.Module, Any, Any], None]:
        def record(module: nn.Module, inputs: Any, output: Any) -> None:
            o = output.detach().double()
            ms = float(o.pow(2).mean())
            dev = float((o - o.mean(0)).pow(2).mean()) if o.shape[0] > 1 else math.nan
            s = sums[name]
            s[0] += 1
            s[1] += ms
            s[2] += math.sqrt(dev / ms) if ms > 0 else math.nan
        return record

    with _left_as_found(model, device, seed):
        handles = [la.register_forward_hook(hook(n)) for n, la in layers if isinstance(la, nn.Module)]
        try:
            outputs = _outputs(model(x))
        finally:
            for h in handles:
                h.remove()
        loss = objective(x, outputs)["loss"] if objective is not None else F.mse_loss(outputs["x_hat"].float(), x)
        weights = [la.weight for _, la in layers]
        grads = torch.autograd.grad(loss, weights, allow_unused=True)
        grads = [torch.zeros_like(w) if g is None else g.detach() for w, g in zip(weights, grads)]
        norms = tensor_norms(grads, precise=True).tolist() if grads else []
        table = []
        for (name, _), w, gn in zip(layers, weights, norms):
            calls, ms, spread = sums[name]
            rms = math.sqrt(ms / calls) if calls else math.nan
            table.append(LayerScale(name, rms, spread / calls if calls else math.nan, gn, gn / math.sqrt(w.numel())))
        jacobian, skipped = None, _why_no_jacobian(x, outputs)
        if not skipped:
            jacobian, skipped = _jacobian(model, x[:jacobian_samples], outputs, probes, iters, seed)
    return TrainabilityReport(tuple(table), float(loss.detach()), int(x.shape[0]), jacobian, skipped)


def _why_no_jacobian(x: Tensor, outputs: dict[str, Tensor]) -> str:
    if not x.is_floating_point():
        return f"the inputs are {x.dtype} token ids, not points of a space: the input-output Jacobian is not defined"
    if "x_hat" not in outputs:
        return f"the model has no reconstruction output (x_hat) to differentiate; it returns {', '.join(outputs)}"
    return ""


def _jacobian(model: nn.Module, x: Tensor, outputs: dict[str, Tensor], probes: int, iters: int,
              seed: int) -> tuple[JacobianSpectrum | None, str]:
    """The Jacobian of x -> x_hat on `x` in training mode, else in eval mode; (None, why) when neither has one.

    Eval mode serves models whose training forward samples their input (a Bernoulli VAE binarises it);
    the code z, when the model names one, caps k at its size (the Jacobian's rank).
    """
    z = outputs.get("z")
    k = min(probes, z[0].numel()) if z is not None and z.ndim >= 1 and z.shape[0] else probes
    for mode in ("train", "eval"):
        model.train(mode == "train")
        try:
            s, products = jacobian_singular_values(lambda v: _outputs(model(v))["x_hat"], x, k, iters, seed)
        except NotDifferentiable:
            continue
        top = s.median(dim=0).values
        # per sample sigma_1 / sigma_k: inf where sigma_k is 0 (a rank lost), NaN where the whole Jacobian is 0
        ratio = torch.where(s[:, 0] > 0, s[:, 0] / s[:, -1], torch.full_like(s[:, 0], math.nan))
        spread = float(ratio.nanmedian())  # NaN only when every sample's Jacobian is 0
        return JacobianSpectrum(tuple(float(v) for v in top), spread, int(x.shape[0]), products, mode), ""
    return None, "the reconstruction does not depend differentiably on the input, in training or eval mode"


def _g(v: float) -> str:
    return f"{v:.3g}" if math.isfinite(v) else "—"


TABLE_HEADERS = ("layer", "output RMS", "sample spread", "grad norm", "grad RMS")


def report_rows(report: TrainabilityReport) -> list[tuple[str, ...]]:
    """The per-layer table, one row of TABLE_HEADERS per layer, as text."""
    return [(la.name, _g(la.forward_rms), _g(la.sample_spread), _g(la.grad_norm), _g(la.grad_rms))
            for la in report.layers]


def report_summary(report: TrainabilityReport) -> list[str]:
    """The whole-net numbers in words, one line each."""
    lines = [f"loss {_g(report.loss)} on a batch of {report.batch}",
             f"first/last gradient RMS {_g(report.first_last_grad_ratio)}; output RMS growth "
             f"{_g(report.activation_growth)}; collapse (smallest/first sample spread) {_g(report.collapse)}"]
    j = report.jacobian
    if j is None:
        lines.append(f"Jacobian: not measured: {report.jacobian_skipped}")
    else:
        lines.append(f"Jacobian: gain {_g(j.gain)}, top {len(j.singular_values)} singular values "
                     f"{', '.join(_g(s) for s in j.singular_values)} (spread {_g(j.spread)}x, {_g(j.decades)} "
                     f"decades; {j.products} Jacobian products over {j.samples} samples"
                     + (", eval mode: the training forward samples its input)" if j.mode == "eval" else ")"))
    return lines


# -- the finding ----------------------------------------------------------------------------------


def check_findings(report: TrainabilityReport, config: Any = None, patches: bool = True) -> list[Finding]:
    """The ``untrainable_at_init`` finding of a report, or none: the thresholds above, with the numbers as evidence.

    config: the run's config (a Config or its dict), so remedies already applied are left out; patches:
    False for a model aegrad did not build (remedies in words, ``"action"``, as ``diagnose`` gives them).
    Its remedies are the catalogue's for exploding gradients when the signal grows (outputs, gradients
    toward the input, or a Jacobian that keeps only a few directions), then for vanishing gradients.
    """
    la = report.layers
    vanish: list[str] = []  # reasons, in words
    explode: list[str] = []
    involved: set[str] = set()
    evidence: dict[str, Any] = {"loss": sig(report.loss)}
    if not math.isfinite(report.loss):
        explode.append("the loss on the first batch is not finite")
    ratio = report.first_last_grad_ratio
    if len(la) >= 2:
        evidence["first_last_grad_ratio"] = sig(ratio)
    if ratio < VANISH_RATIO:  # NaN compares False: a net with no gradient at all is judged by the rest
        factor = ratio ** (1.0 / (len(la) - 1)) if ratio > 0 else 0.0
        evidence["per_layer_factor"] = sig(factor)
        involved.update(x.name for x in la if x.grad_rms < VANISH_RATIO * la[-1].grad_rms)
        vanish.append(f"the first layer's gradient is {ratio:.1e} of the last layer's (x{factor:.2g} per layer)")
    elif ratio > EXPLODE_RATIO:
        explode.append(f"the first layer's gradient is {ratio:.1e}x the last layer's" if math.isfinite(ratio)
                       else "the last layer has no gradient while the first has one")
    growth = report.activation_growth
    evidence["activation_growth"] = sig(growth)
    if growth >= ACTIVATION_GROWTH:
        involved.update(x.name for x in la if x.forward_rms >= ACTIVATION_GROWTH * la[0].forward_rms)
        explode.append(f"layer outputs grow {growth:.1e}x from the first layer to the largest")
    collapse = report.collapse
    evidence["collapse"] = sig(collapse)
    if collapse < COLLAPSE_RATIO:
        involved.update(x.name for x in la if x.sample_spread < COLLAPSE_RATIO * la[0].sample_spread)
        vanish.append(f"the samples collapse to one point: a layer's outputs vary {collapse:.1e} as much from "
                      "sample to sample as the first layer's")
    jac = report.jacobian
    if jac is not None:
        evidence["jacobian_gain"] = sig(jac.gain)
        evidence["jacobian_spread_decades"] = sig(jac.decades)
        if jac.gain < GAIN_MIN:
            vanish.append(f"the output moves at most {jac.gain:.1e} per unit move of the input (the input-output "
                          "Jacobian's top singular value)")
        if jac.decades > SPREAD_DECADES:  # NaN (a Jacobian of 0) compares False
            how = f"{jac.decades:.0f} decades" if math.isfinite(jac.decades) else "to 0"
            explode.append(f"the Jacobian's top {len(jac.singular_values)} singular values fall {how}: the output "
                           "follows the input along a few directions only (saturated output units pass nothing)")
    if not (vanish or explode):
        return []
    why = (" Large initial weights or a missing normalisation push units into saturation or overflow"
           if explode else " No step size brings a signal this small back to the early layers")
    explanation = ("Before any step, on one batch at initialisation: " + "; ".join(explode + vanish) + "."
                   + why + ": this net will not train as configured; change the architecture or the initialisation.")
    targets = ([Target.EXPLODING_GRADIENT] if explode else []) + ([Target.VANISHING_GRADIENT] if vanish else [])
    layers = [x.name for x in la if x.name in involved]
    return [Finding(Kind.UNTRAINABLE_AT_INIT, Severity.ERROR, layers, evidence, explanation,
                    advice(targets, config, patches))]
