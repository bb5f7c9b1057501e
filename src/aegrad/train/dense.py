"""A hand-written training step for plain dense autoencoders on the CPU: no autograd graph.

At RT1's size (batch 128, 1.08M weights, 2 cores) the matrix products of one
step take ~4.4 ms; autograd, its per-op dispatch and its fresh buffers add
~1 ms more. For a model that is only ``Linear -> activation`` stages and an MSE
loss, the backward pass is short enough to write out: ``DenseStep`` runs the
forward with the activations applied in place, then walks the stages back with
the same kernels autograd would call (``threshold_backward``,
``sigmoid_backward``, ...), writing the gradients into ``.grad`` exactly as
``loss.backward()`` does (accumulating when ``.grad`` exists). Tests compare its
loss and every gradient with autograd's to float32 rounding. The large products
(forward and ``g @ W``) go through oneDNN's fused linear when it is there and
agrees with ``addmm`` (see ``onednn_available``); the rest through MKL, as autograd's.

With ``train.precision: bf16`` the step computes as autograd does under
``torch.autocast(bfloat16)``: each step casts the float32 weights and biases to
bfloat16 copies, the products, activations and their backward run in bfloat16,
the loss in float32 (as the loop's ``x_hat.float()``), and each gradient is
computed in bfloat16 and stored as float32 in ``.grad``, where Adam updates the
float32 weights. Tests compare it with autograd under autocast to bfloat16 rounding.

``DenseStep.of(model, cfg)`` returns None for anything else (norms, dropout,
residual skips, PReLU and the smooth activations, conv models, CUDA,
distributed runs, a latent penalty), and the run uses the autograd step
(train/steps.py). Forward hooks marked ``reads_output_only`` (the gradient
monitor's activation hooks) are called by the step itself with the activation it
computed; any other forward hook makes the step hand that micro-batch to its
autograd step, so no hook is ever skipped. Its switches (oneDNN, reused buffers,
norms in cache, the step itself) are a ``StepOptions`` object.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.nn.modules import module as _module  # its global forward-hook registries

from aegrad.config import Config
from aegrad.models.activations import activation_name, get_activation
from aegrad.models.blocks import Block
from aegrad.models.mlp.model import MLPAutoencoder
from aegrad.objectives import Terms
from aegrad.train.steps import AutogradStep, StepOptions

# oneDNN costs ~30 us more per call than MKL's addmm / mm: it wins on large products only. Measured
# on RT1's layers at batch 128 (AMD EPYC, 2 threads): 784x512 501 vs 561 us, 512x256 177 vs 187 us,
# but 256x32 29 vs 18 us and 32x256 30 vs 20 us. Weights with fewer elements than this use MKL.
ONEDNN_MIN_WEIGHTS = 65536
_ONEDNN_OK: dict[torch.dtype, bool] = {}  # the probe's verdict per dtype, once per process
# train.precision -> the dtype the step computes in
_COMPUTE = {"fp32": torch.float32, "bf16": torch.bfloat16}

# the registered activations (models/activations.py) the step has kernels for: each is computed in
# place and differentiated from its output
KERNELS = ("relu", "leaky_relu", "sigmoid", "tanh")


@dataclass(frozen=True)
class _Stage:
    linear: nn.Linear
    act: str | None  # one of KERNELS, or None for a bare linear
    slope: float = 0.0  # leaky_relu's negative slope
    act_module: nn.Module | None = None


def _stage(block: nn.Module) -> _Stage | None:
    if type(block) is nn.Linear:
        return _Stage(block, None)
    if not isinstance(block, Block) or block.residual or set(block._modules) - {"layer", "act"}:
        return None
    layer, act = block._modules["layer"], block._modules.get("act")
    if type(layer) is not nn.Linear:
        return None
    if act is None:
        return _Stage(layer, None)
    name = activation_name(act)
    if name not in KERNELS or type(act) is not get_activation(name).module:
        return None
    slope = float(act.negative_slope) if isinstance(act, nn.LeakyReLU) else 0.0
    return _Stage(layer, name, slope, act)


def _linear(x: Tensor, w: Tensor, b: Tensor | None, act: str | None, slope: float) -> Tensor:
    """``act(x @ w.T + b)`` in one oneDNN call (bias and activation fused into the product)."""
    scalars = [slope] if act == "leaky_relu" else []
    return torch.ops.mkldnn._linear_pointwise(x, w, b, act or "none", scalars, "")


def onednn_available(dtype: torch.dtype = torch.float32) -> bool:
    """Whether oneDNN's fused linear runs here in `dtype` and agrees with addmm (probed once per process).

    On this project's benchmark machine (AMD EPYC, torch's CPU wheel) oneDNN's fp32
    products with a fused bias and activation are ~10% faster than MKL's ``addmm``
    for RT1's large layers, and ``g @ W`` through it too; MKL stays faster for the
    weight gradients (both operands transposed). The operator is torch's own
    (``torch.ops.mkldnn``, what ``torch.compile`` emits on CPU) but not public API, so
    the step uses it only after checking it exists and computes the same numbers:
    to float32 rounding, or for bfloat16 to bfloat16's (the fused activation is
    applied before the single rounding, autocast's after it).
    """
    ok = _ONEDNN_OK.get(dtype)
    if ok is None:
        rtol, atol = (1e-5, 1e-6) if dtype == torch.float32 else (2e-2, 2e-2)
        try:
            gen = torch.Generator().manual_seed(0)
            x, w, b = (torch.randn(shape, generator=gen).to(dtype) for shape in ((5, 7), (3, 7), (3,)))
            ok = torch.backends.mkldnn.is_available()
            for act, ref in (("relu", torch.relu), ("sigmoid", torch.sigmoid), ("tanh", torch.tanh), (None, None)):
                want = torch.addmm(b, x, w.t())
                want = ref(want) if ref is not None else want
                got = _linear(x, w, b, act, 0.0)
                ok = ok and got.dtype == dtype and torch.allclose(got.float(), want.float(), rtol=rtol, atol=atol)
            want = F.leaky_relu(torch.addmm(b, x, w.t()), 0.2)
            ok = ok and torch.allclose(_linear(x, w, b, "leaky_relu", 0.2).float(), want.float(), rtol=rtol, atol=atol)
            g = torch.randn(5, 3, generator=gen).to(dtype)
            ok = ok and torch.allclose(
                _linear(g, w.t(), None, None, 0.0).float(), (g @ w).float(), rtol=rtol, atol=atol
            )
            ok = bool(ok)
        except (AttributeError, RuntimeError, NotImplementedError):
            ok = False
        _ONEDNN_OK[dtype] = ok
    return ok


class DenseStep:
    """Loss and gradients of ``F.mse_loss(model(x), target)`` for a chain of dense stages, without autograd.

    Every intermediate (activations, backpropagated errors, gradients, the gathered
    batch) lives in a buffer allocated once and reused: 1.04-1.09x on RT1 in the
    ablation's in-run A/B (``python -m benchmarks.ablation``, row ``fresh_buffers``).
    """

    def __init__(
        self,
        model: MLPAutoencoder,
        stages: list[_Stage],
        onednn: bool = False,
        compute: torch.dtype = torch.float32,
        options: StepOptions | None = None,
    ) -> None:
        self.model = model
        self.stages = stages
        # forward products and the backpropagated errors through oneDNN (see onednn_available) when
        # it runs here and options.onednn is on; MKL otherwise
        self.onednn = onednn
        self.options = options if options is not None else StepOptions()
        self.autograd: AutogradStep | None = None  # set by `bind`: the step taken when this one cannot run
        self.want_norms = False
        self.last_sq_norms: Tensor | None = None
        self.compute = compute  # the dtype of products and activations; parameters and .grad stay float32
        self._low = compute != torch.float32
        self._large = [s.linear.weight.numel() >= ONEDNN_MIN_WEIGHTS for s in stages]
        self._modules = [m for s in stages for m in (s.linear, s.act_module) if m is not None]
        # (weight, bias) per stage, read once: nn.Module attribute lookups cost ~1 us each per step
        self._params = [(s.linear.weight, s.linear.bias) for s in stages]
        # (weight, bias) as the products read them: the parameters themselves, or (bf16) copies cast each step
        self._cparams = (
            [(torch.empty_like(w, dtype=compute), torch.empty_like(b, dtype=compute)) for w, b in self._params]
            if self._low
            else self._params
        )
        # Views made once, not per step (each view is a dispatched operator of a few microseconds,
        # dozens per step): the weights transposed (Adam updates them in place, so the views stay current),
        # the batch-sized slices of the buffers (`_views`, per batch size), the gradients flattened.
        self._wt = [w.t() for w, _ in self._cparams]
        self._rows = 0
        self._out: list[Tensor] = []  # stage k's activation, (rows, out_k)
        self._err: list[Tensor] = []  # the error backpropagated into stage k's input, (rows, in_k); k >= 1
        self._diff = torch.empty(0)  # d loss / d reconstruction, (rows, D), float32
        self._x_low = torch.empty(0)  # bf16: the batch cast, (rows, D_in)
        self._g_low = torch.empty(0)  # bf16: d loss / d reconstruction cast, (rows, D)
        self._views: dict[int, tuple[list[Tensor], list[Tensor], Tensor]] = {}
        self._batch = torch.empty(0)
        self.alloc_grads()
        # Squared L2 norms of the gradients, [w0, b0, w1, b1, ...] = model.parameters() order (see `of`),
        # written through one 0-d view per entry
        self.sq_norms = torch.zeros(2 * len(stages))
        self._sq = list(self.sq_norms.unbind(0))

    def alloc_grads(self) -> None:
        """(Re)allocate the gradient buffers ``.grad`` is set to, and their flat views."""
        self._wgrad = [torch.empty_like(s.linear.weight) for s in self.stages]
        self._bgrad = [torch.empty_like(s.linear.bias) for s in self.stages]
        self._flat = {id(t): t.view(-1) for t in (*self._wgrad, *self._bgrad)}
        # bf16: each gradient computed in the compute dtype first, then stored as float32 in .grad
        self._wgrad_low = [torch.empty_like(w) for w, _ in self._cparams] if self._low else []
        self._bgrad_low = [torch.empty_like(b) for _, b in self._cparams] if self._low else []

    @classmethod
    def of(
        cls, model: nn.Module, cfg: Config, world_size: int = 1, options: StepOptions | None = None
    ) -> DenseStep | None:
        """The step for `model` trained per `cfg`, or None when it does not apply (see the module docstring)."""
        t = cfg.train
        if (
            not isinstance(model, MLPAutoencoder)
            or t.precision not in _COMPUTE
            or t.compile
            or t.latent_l1
            or world_size != 1
        ):
            return None
        stages = []
        for block in [*model.encoder_blocks, *model.decoder_blocks]:
            stage = _stage(block)
            if stage is None or stage.linear.bias is None:
                return None
            stages.append(stage)
        params = [p for s in stages for p in (s.linear.weight, s.linear.bias)]
        if any(p.device.type != "cpu" or p.dtype != torch.float32 or not p.requires_grad for p in params):
            return None
        # sq_norms follows model.parameters(): the loop's norm vector is indexed by that order
        if [id(p) for p in params] != [id(p) for p in model.parameters()] or any(s.slope < 0 for s in stages):
            return None
        compute = _COMPUTE[t.precision]
        return cls(model, stages, onednn=onednn_available(compute), compute=compute, options=options)

    def bind(self, autograd: AutogradStep, want_norms: bool) -> DenseStep:
        """Take batches from `autograd`'s training tensor and corruption, falling back to it when needed.

        `want_norms`: measure each gradient's squared norm on a step's last micro-batch (see
        `loss_and_grads`), left in `last_sq_norms` for the loop's hooks.
        """
        self.autograd, self.want_norms = autograd, want_norms
        return self

    def __call__(self, index: Tensor, share: float, last: bool) -> Terms:
        """The step interface (train/steps.py): the MSE of micro-batch `index`, its gradient added to ``.grad``."""
        assert self.autograd is not None, "bind() the step to its autograd fallback first"
        options = self.options
        if not options.dense or self.hooked():
            self.last_sq_norms = None
            return self.autograd(index, share, last)
        if not options.reuse_buffers:
            self._rows = 0  # _buffers() then allocates new activation and error tensors
            self._views.clear()
            self.alloc_grads()  # and new gradient tensors
        x = self.gather(self.autograd.train_x, index)
        norms = self.want_norms and last and options.cache_norms
        loss = self.loss_and_grads(self.autograd.corrupt(x), x, share, norms)
        self.last_sq_norms = self.sq_norms if norms else None
        return {"loss": loss, "mse": loss}

    def hooked(self) -> bool:
        """True when a forward hook this step cannot honour is attached (then autograd must run).

        Hooks on activation modules that carry ``reads_output_only = True`` (the
        gradient monitor's) are honoured: the step calls them with the activation.
        """
        if _module._global_forward_hooks or _module._global_forward_pre_hooks:
            return True
        for m in self._modules:
            if m._forward_pre_hooks or m._forward_hooks_with_kwargs:
                return True
            if isinstance(m, nn.Linear) and m._forward_hooks:
                return True
            if any(not getattr(h, "reads_output_only", False) for h in m._forward_hooks.values()):
                return True
        return False

    def gather(self, x: Tensor, index: Tensor) -> Tensor:
        """``x[index]`` written into a reused buffer (valid until the next call)."""
        shape = (len(index), *x.shape[1:])
        if self._batch.shape[1:] != shape[1:] or len(self._batch) < len(index) or self._batch.dtype != x.dtype:
            self._batch = torch.empty((max(len(index), len(self._batch)), *shape[1:]), dtype=x.dtype)
        return torch.index_select(x, 0, index, out=self._batch[: len(index)])

    def _buffers(self, rows: int) -> tuple[list[Tensor], list[Tensor], Tensor]:
        """The activation, error and loss-gradient buffers cut to `rows` rows (grown when needed)."""
        views = self._views.get(rows)
        if views is not None:
            return views
        if rows > self._rows:
            self._rows = rows
            c = self.compute
            self._out = [torch.empty(rows, s.linear.out_features, dtype=c) for s in self.stages]
            self._err = [torch.empty(rows, s.linear.in_features, dtype=c) for s in self.stages]
            self._diff = torch.empty(rows, self.stages[-1].linear.out_features)
            if self._low:
                self._x_low = torch.empty(rows, self.stages[0].linear.in_features, dtype=c)
                self._g_low = torch.empty(rows, self.stages[-1].linear.out_features, dtype=c)
            self._views.clear()
        views = ([o[:rows] for o in self._out], [e[:rows] for e in self._err], self._diff[:rows])
        if len(self._views) < 8:  # a few batch sizes (the epoch's last batch, accumulation shares)
            self._views[rows] = views
        return views

    @torch.no_grad()
    def loss_and_grads(self, x: Tensor, target: Tensor, scale: float = 1.0, norms: bool = False) -> Tensor:
        """The MSE between the model's reconstruction of `x` and `target`; adds ``scale`` x its gradient to ``.grad``.

        Equal to ``loss = F.mse_loss(model(x)["x_hat"], target); (scale * loss).backward()``
        (for bf16, under ``torch.autocast`` and with ``x_hat.float()``, as the loop does).
        With `norms`, also writes the squared L2 norm of every parameter's ``.grad``
        (after this call's accumulation) into `sq_norms`, each taken right after the
        gradient is written, while it is still in cache: one float32 dot per tensor
        instead of a separate norm pass over 4 MB of gradients (RT1).
        """
        rows = len(x)
        outs, errs, diff = self._buffers(rows)
        onednn, low = self.onednn and self.options.onednn, self._low
        cparams = self._cparams
        h = self.model.to_blocks(x)
        if low:  # autocast casts each weight, bias and the batch for the products
            for (w, b), (cw, cb) in zip(self._params, cparams):
                cw.copy_(w)
                cb.copy_(b)
            h = self._x_low[:rows].copy_(h)
        hs = [h]
        for s, (w, b), wt, out, large in zip(self.stages, cparams, self._wt, outs, self._large):
            if onednn and large:
                h = _linear(h, w, b, s.act, s.slope)
            else:
                h = self._mkl_forward(h, wt, b, s, out)
            if s.act_module is not None and s.act_module._forward_hooks:
                _observe(s.act_module, h)
            hs.append(h)
        d = torch.sub(h, target.reshape(h.shape), out=diff)  # float32 either way (the loop's x_hat.float())
        flat = d.view(-1)
        loss = torch.dot(flat, flat) / flat.numel()
        d.mul_(2.0 * scale / flat.numel())
        g = self._g_low[:rows].copy_(d) if low else d
        flats, sq = self._flat, self._sq
        for k in range(len(self.stages) - 1, -1, -1):
            s, y = self.stages[k], hs[k + 1]
            if s.act == "relu":
                torch.ops.aten.threshold_backward.grad_input(g, y, 0.0, grad_input=g)
            elif s.act == "leaky_relu":
                torch.ops.aten.leaky_relu_backward.grad_input(g, y, s.slope, True, grad_input=g)
            elif s.act == "sigmoid":
                torch.ops.aten.sigmoid_backward.grad_input(g, y, grad_input=g)
            elif s.act == "tanh":
                torch.ops.aten.tanh_backward.grad_input(g, y, grad_input=g)
            w, b = self._params[k]
            self._accumulate(k, w, b, g, hs[k])
            if norms:
                wg, bg = w.grad, b.grad
                wf, bf = flats.get(id(wg)), flats.get(id(bg))
                wf = wg.reshape(-1) if wf is None else wf
                bf = bg.reshape(-1) if bf is None else bf
                torch.dot(wf, wf, out=sq[2 * k])
                torch.dot(bf, bf, out=sq[2 * k + 1])
            if k:
                if onednn and self._large[k]:
                    g = _linear(g, self._wt[k], None, None, 0.0)
                else:
                    g = torch.mm(g, cparams[k][0], out=errs[k])
        return loss

    def _accumulate(self, k: int, w: Tensor, b: Tensor, g: Tensor, h: Tensor) -> None:
        """Stage k's weight and bias gradients from its output error `g` and input `h`, set or added to ``.grad``.

        In bf16 both are computed in bf16 (autocast's products) and stored as float32,
        as the backward of autocast's weight cast does.
        """
        gt = g.t()
        if self._low:
            wg = torch.mm(gt, h, out=self._wgrad_low[k])
            bg = torch.sum(g, 0, out=self._bgrad_low[k])
            if w.grad is None:
                w.grad = self._wgrad[k].copy_(wg)
            else:
                w.grad.add_(wg)
            if b.grad is None:
                b.grad = self._bgrad[k].copy_(bg)
            else:
                b.grad.add_(bg)
            return
        if w.grad is None:
            w.grad = torch.mm(gt, h, out=self._wgrad[k])
        else:
            w.grad.addmm_(gt, h)
        if b.grad is None:
            b.grad = torch.sum(g, 0, out=self._bgrad[k])
        else:
            b.grad.add_(g.sum(0))

    @staticmethod
    def _mkl_forward(h: Tensor, wt: Tensor, b: Tensor, s: _Stage, out: Tensor) -> Tensor:
        """``act(h @ wt + b)`` (`wt` the weight transposed) with addmm into `out`, the activation in place."""
        y = torch.addmm(b, h, wt, out=out)
        if s.act == "relu":
            y.relu_()
        elif s.act == "leaky_relu":
            F.leaky_relu_(y, s.slope)
        elif s.act == "sigmoid":
            y.sigmoid_()
        elif s.act == "tanh":
            y.tanh_()
        return y


def _observe(module: nn.Module, output: Tensor) -> None:
    """Call `module`'s output-only forward hooks as its own forward would (grad mode on, as in training)."""
    with torch.enable_grad():
        for hook in list(module._forward_hooks.values()):
            hook(module, (), output)
