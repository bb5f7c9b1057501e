"""Conformance: one contract, run against every registered model family (timm parametrises over its registry).

The families are ``aegrad.models.list_models()``, plus the variational wrapper: a preset with
``model.variational: true`` is its own family ("mlp+variational"). Nothing here names a family:
each one's config is its first built-in preset (``aegrad.list_presets()``) shrunk to a few dozen
samples, so a new family gets the whole suite by registering its kind and shipping a preset — and
a kind without a preset fails ("every family ships a preset").

Which contract a family answers is read from its named outputs, as CompressAI's are named:
``x_hat`` (a reconstruction of the input batch), ``y_hat`` (the quantised code a codec decodes),
``mu`` (the posterior mean a variational family encodes to), ``logits`` with no ``x_hat`` (an
autoregressive family: teacher-forced next-symbol logits, its reconstruction the greedy decode, which
is checked through its ``teacher_forced(ids, z)``).

Resume is checked as a crash is: the same config stopped mid-run and resumed. Training fewer epochs and
resuming to more is a different run whenever a schedule spans ``train.epochs`` (the codec presets' cosine).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import aegrad
from aegrad.models import create_model, list_models, load_model, save_model
from conftest import fashion_available

# Small enough for a few seconds a family on one thread, large enough for several optimizer steps an epoch.
SHRINK: dict[str, Any] = {
    "data.limit": 64,
    "data.test_limit": 32,
    "data.download": False,  # a test never downloads: a missing dataset is skipped
    "train.epochs": 2,
    "train.batch_size": 16,
}
BATCH = 8  # samples in the batch every contract check runs on

# The external datasets a preset can read (Debian packages), and how to tell one is missing.
FORTUNES_DIR = Path("/usr/share/games/fortunes")
WAMERICAN = Path("/usr/share/dict/american-english")


def _objectives_api():
    """The objectives package (``create_objective``, ``list_objectives``)."""
    return importlib.import_module("aegrad.objectives")


@cache
def families() -> dict[str, list[str]]:
    """Family id -> the built-in presets that configure it (empty: a kind that ships none)."""
    out: dict[str, list[str]] = {kind: [] for kind in list_models()}
    for name in aegrad.list_presets():
        model = aegrad.load_config(preset=name).model
        out.setdefault(model.kind + ("+variational" if model.variational else ""), []).append(name)
    return out


def _missing_data(cfg: aegrad.Config) -> str | None:
    """Why `cfg`'s data cannot be read on this machine, or None (tests elsewhere skip the same way)."""
    data = cfg.data
    if data.source == "fashion-mnist" and not fashion_available():
        return "Debian's dataset-fashion-mnist is not installed"
    if data.source == "text" and data.text.corpus == "fortunes" and not FORTUNES_DIR.is_dir():
        return "Debian's fortunes package is not installed"
    if data.source == "text" and data.text.corpus == "wamerican" and not WAMERICAN.is_file():
        return "Debian's wamerican package is not installed"
    if data.source == "skimage" and importlib.util.find_spec("skimage") is None:
        return "scikit-image is not installed"
    return None


@dataclass
class Family:
    """One family's shrunk preset, its data, and builders of fresh models and batches."""

    id: str
    preset: str
    cfg: aegrad.Config
    data: Any  # aegrad.Dataset

    def config(self, **overrides: Any) -> aegrad.Config:
        return aegrad.load_config(preset=self.preset, overrides={**SHRINK, **overrides})

    def model(self, seed: int = 0) -> nn.Module:
        torch.manual_seed(seed)
        return create_model(self.cfg.model, self.data.sample_shape)

    def batch(self) -> Tensor:
        return self.data.train_x[:BATCH]


@pytest.fixture(scope="module", params=sorted(families()))
def family(request) -> Family:
    presets = families()[request.param]
    if not presets:
        pytest.fail(f"model.kind={request.param} has no built-in preset: every family ships a preset")
    preset = presets[0]
    cfg = aegrad.load_config(preset=preset, overrides=SHRINK)
    reason = _missing_data(cfg)
    if reason:
        pytest.skip(f"{preset}: {reason}")
    return Family(request.param, preset, cfg, aegrad.load_dataset(cfg.data, seed=cfg.seed))


def _forward(model: nn.Module, x: Tensor, seed: int = 0) -> dict[str, Tensor]:
    torch.manual_seed(seed)  # a variational family samples z even in eval mode
    return model(x)


def _tensors(outputs: dict[str, Any]) -> dict[str, Tensor]:
    return {k: v for k, v in outputs.items() if isinstance(v, Tensor)}


# ------------------------------------------------------------------------------------------------ the registry


def test_every_family_ships_a_preset():
    bare = [kind for kind, presets in families().items() if not presets]
    assert not bare, f"model kinds with no built-in preset: {bare} (every family ships a preset)"


# ------------------------------------------------------------------------------------------------ named outputs, shapes


def test_forward_returns_named_outputs(family):
    x = family.batch()
    out = _forward(family.model().train(), x)
    assert isinstance(out, dict) and all(isinstance(k, str) for k in out)
    assert "z" in out and out["z"].shape[0] == len(x)
    if "x_hat" in out:
        assert out["x_hat"].shape == x.shape and out["x_hat"].dtype == torch.float32
        assert torch.isfinite(out["x_hat"]).all()
    else:  # autoregressive: next-symbol logits for <bos> x_0 .. x_{L-1}, one row per input line
        assert "logits" in out, f"{family.id}: forward names neither x_hat nor logits: {sorted(out)}"
        logits = out["logits"]
        assert logits.ndim == 3 and logits.shape[0] == len(x) and logits.shape[1] <= x.shape[1] + 1
        assert torch.isfinite(logits).all()


def test_decode_of_encode_has_the_shape_of_the_input(family):
    x = family.batch()
    model = family.model().eval()
    with torch.no_grad():
        z = model.encode(x)
        x_hat = model.decode(z)
    assert z.shape[0] == len(x)
    assert x_hat.shape == x.shape


# ------------------------------------------------------------------------------------------------ encode / decode


def test_encode_gives_forwards_code_in_eval_mode(family):
    """``encode(x)`` is the code forward computes: ``z``, or ``mu`` for a variational family (z is its sample)."""
    x = family.batch()
    model = family.model().eval()
    with torch.no_grad():
        out = _forward(model, x)
        assert torch.equal(model.encode(x), out.get("mu", out["z"]))


def test_decode_reproduces_forward_in_eval_mode(family):
    """A reconstructing family: decoding the code forward decodes gives forward's ``x_hat`` exactly —
    ``encode(x)``, or for a codec the integer code ``y_hat`` its coder writes.
    An autoregressive family: ``decode(z)`` is greedy, so fed back teacher-forced with the same z, every
    symbol it wrote (and the end of line after them) is the forward's most likely next symbol."""
    x = family.batch()
    model = family.model().eval()
    with torch.no_grad():
        out = _forward(model, x)
        z = model.encode(x)
        if "x_hat" in out:
            code = out.get("y_hat", z)
            if "y_hat" in out:  # the symbols a codec's coder writes are integers
                assert torch.equal(code, torch.round(code))
            assert torch.equal(model.decode(code), out["x_hat"])
            return
        greedy = model.decode(z)
        logits, target, mask = model.teacher_forced(greedy, z)
    specials = _text_specials()
    logits[..., [specials.PAD, specials.BOS]] = -torch.inf  # symbols a greedy decode never writes
    written = mask.clone()
    written[:, greedy.shape[1]:] = False  # a line that filled max_len ended without writing <eos>
    assert written.any()
    assert torch.equal(logits.argmax(-1)[written], target[written])


def _text_specials():
    """The vocabulary module's special ids (PAD, BOS, ...), found through the public Vocabulary class."""
    return importlib.import_module(aegrad.Vocabulary.__module__)


# ------------------------------------------------------------------------------------------------ module order


def _watched(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Leaf modules that hold parameters (parameter containers aside): what the monitor's statistics follow."""
    containers = (nn.ParameterList, nn.ParameterDict)
    return [(n, m) for n, m in model.named_modules()
            if n and not any(True for _ in m.children()) and not isinstance(m, containers)
            and any(True for _ in m.parameters(recurse=False))]


def test_named_modules_order_is_forward_order(family):
    """In a training forward, every watched module runs, and ``named_modules()`` lists each one after every
    watched module whose output it reads (found through the autograd graph).

    That is forward order as the monitor uses it (gradient-flow plots, "the layers after the last
    parameterised one act on the output"). It is weaker than the order of first calls only for
    independent branches — a codec's hyperprior runs before its synthesis but reads nothing from it, a
    sequence decoder's input layer runs before its initial-state layer — whose relative order is free.
    """
    model = family.model().train()
    watched = _watched(model)
    index = {n: i for i, (n, _) in enumerate(watched)}
    producer: dict[Any, str] = {}  # grad_fn of a watched module's output -> its name
    reads: dict[str, set[str]] = {n: set() for n in index}
    calls: list[str] = []

    def upstream(tensors) -> set[str]:
        seen, stack, found = set(), [t.grad_fn for t in tensors if isinstance(t, Tensor) and t.grad_fn], set()
        while stack:
            fn = stack.pop()
            if fn is None or fn in seen:
                continue
            seen.add(fn)
            if fn in producer:
                found.add(producer[fn])
                continue
            stack.extend(f for f, _ in fn.next_functions)
        return found

    def hook(module, args, output, name):
        calls.append(name)
        reads[name] |= upstream(args)
        for t in (output if isinstance(output, (tuple, list)) else (output,)):
            if isinstance(t, Tensor) and t.grad_fn is not None:
                producer[t.grad_fn] = name

    handles = [m.register_forward_hook(lambda mod, a, o, n=n: hook(mod, a, o, n)) for n, m in watched]
    try:
        _forward(model, family.batch())
    finally:
        for h in handles:
            h.remove()
    assert set(calls) == set(index), f"watched modules that never ran: {sorted(set(index) - set(calls))}"
    late = [(b, a) for b, srcs in reads.items() for a in srcs if a != b and index[a] > index[b]]
    assert not late, f"named_modules lists a module before one whose output it reads (reader, read): {late}"


# ------------------------------------------------------------------------------------------------ save / load


def test_save_then_load_gives_the_same_model(family, tmp_path):
    model = family.model().eval()
    path = tmp_path / "model.safetensors"
    save_model(model, path, family.cfg.model, family.data.sample_shape)
    loaded, cfg, shape, _extra = load_model(path)
    assert cfg == family.cfg.model and tuple(shape) == tuple(family.data.sample_shape)
    assert type(loaded) is type(model) and not loaded.training
    a, b = model.state_dict(), loaded.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    x = family.batch()
    with torch.no_grad():
        oa, ob = _tensors(_forward(model, x)), _tensors(_forward(loaded, x))
    assert list(oa) == list(ob) and all(torch.equal(oa[k], ob[k]) for k in oa)


# ------------------------------------------------------------------------------------------------ the default objective


def test_the_default_objective_is_registered_and_trains_every_parameter(family):
    """``model.objective`` names a registered objective; built from the config (``train.objective: auto``) and
    called on (target, training outputs), its ``"loss"`` is a finite scalar whose gradient reaches every
    trainable parameter."""
    api = _objectives_api()
    model = family.model().train()
    assert model.objective in api.list_objectives(), f"{type(model).__name__}.objective={model.objective!r}"
    objective = api.create_objective(family.cfg, model)
    x = family.batch()
    terms = objective(x, _forward(model, x))
    loss = terms["loss"]
    assert loss.ndim == 0 and torch.isfinite(loss), {k: float(v) for k, v in terms.items()}
    loss.backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable
    missed = [n for n, p in trainable if p.grad is None or not bool((p.grad != 0).any())]
    assert not missed, f"the loss's gradient does not reach: {missed}"
    assert all(torch.isfinite(p.grad).all() for _, p in trainable)


# ------------------------------------------------------------------------------------------------ resume


class _Interrupt(aegrad.Callback):
    """A crash after optimizer step `at` (the run's last checkpoint is the one before it)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_end(self, step: int, epoch: int) -> None:
        if step == self.at:
            raise KeyboardInterrupt


def test_resume_equals_an_uninterrupted_run(family, tmp_path):
    """A run stopped in its second epoch and resumed from its mid-epoch-one checkpoint ends at the very
    weights of the same config trained in one go.

    The same config throughout: training fewer epochs and resuming to more is another run whenever a
    schedule spans ``train.epochs`` (the codec presets' cosine), so it is not what resume promises.
    """
    cfg = family.config(**{"train.epochs": 2, "train.checkpoint_every": 3})  # 4 steps an epoch: checkpoint at 3
    straight = aegrad.train(cfg, out=tmp_path / "straight", report=False)
    with pytest.raises(KeyboardInterrupt):
        aegrad.train(cfg, out=tmp_path / "resumed", report=False, callbacks=[_Interrupt(5)])
    resumed = aegrad.train(cfg, resume=tmp_path / "resumed", report=False)
    assert resumed.summary["steps"] == straight.summary["steps"] > 5
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert list(a) == list(b)
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"resumed weights differ from the uninterrupted run's: {differ}"
    assert _epoch_records(resumed) == _epoch_records(straight)


def _epoch_records(run) -> list[dict[str, Any]]:
    """The run's per-epoch records in metrics.jsonl, timings (wall_s and the like) left out."""
    return [{k: v for k, v in r.items() if not k.endswith("_s")} for r in run.metrics if r.get("kind") == "epoch"]


@pytest.mark.parametrize("preset", sorted(aegrad.list_presets()))
def test_every_preset_builds_a_model_that_reconstructs_its_data(preset):
    """Every built-in preset, not only each family's first: its model runs on its own data's batch."""
    cfg = aegrad.load_config(preset=preset, overrides=SHRINK)
    reason = _missing_data(cfg)
    if reason:
        pytest.skip(f"{preset}: {reason}")
    data = aegrad.load_dataset(cfg.data, seed=cfg.seed)
    torch.manual_seed(0)
    model = create_model(cfg.model, data.sample_shape).eval()
    x = data.train_x[:BATCH]
    with torch.no_grad():
        out = _forward(model, x)
        assert (out["x_hat"] if "x_hat" in out else out["logits"]).shape[0] == len(x)
        assert model.decode(model.encode(x)).shape == x.shape
