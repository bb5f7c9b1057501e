"""GradientMonitor: window aggregation, schedule, syncs, hooks and resume."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from aegrad.diagnose import GradientMonitor
from aegrad.diagnose.monitor import read_records


def _net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.Sigmoid(), nn.Linear(3, 4), nn.Sigmoid())


def _set_grads(net: nn.Module, norm: float) -> None:
    """Every weight gradient a constant tensor with two-norm `norm`."""
    for m in net.modules():
        if isinstance(m, nn.Linear):
            m.weight.grad = torch.full_like(m.weight, norm / math.sqrt(m.weight.numel()))


def test_window_aggregates_every_step():
    net = _net()
    mon = GradientMonitor(net, sync_every=3, activation_every=100)
    norms, losses = [1.0, 4.0, 2.0, 8.0, 0.5, 3.0, 5.0], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    for n, loss in zip(norms, losses):
        _set_grads(net, n)
        mon.step(torch.tensor(loss))
    recs = mon.drain()
    assert [r["step"] for r in recs] == [3, 6]
    assert [r["window_steps"] for r in recs] == [3, 3]
    r0 = recs[0]
    assert r0["layers"] == ["0", "2", "4"]
    assert r0["grad_norm"]["mean"] == pytest.approx([7 / 3] * 3)
    assert r0["grad_norm"]["max"] == pytest.approx([4.0] * 3)
    assert r0["grad_norm"]["min"] == pytest.approx([1.0] * 3)
    assert r0["grad_rms"] == pytest.approx([7 / 3 / math.sqrt(n) for n in r0["numel"]])
    assert r0["loss"] == pytest.approx({"mean": 0.8, "min": 0.7, "max": 0.9})
    assert recs[1]["grad_norm"]["max"] == pytest.approx([8.0] * 3)
    assert r0["nonfinite_steps"] == 0
    assert mon.drain() == []
    last = mon.flush()
    assert last["step"] == 7 and last["window_steps"] == 1
    assert last["grad_norm"]["mean"] == pytest.approx([5.0] * 3)
    assert len(mon.records()) == 3
    assert mon.flush() is None
    json.dumps(mon.records(), allow_nan=False)  # strict JSON: no NaN/inf anywhere


def test_nonfinite_steps_are_flagged_and_excluded():
    net = _net()
    mon = GradientMonitor(net, sync_every=4, activation_every=100)
    for n in (1.0, 2.0, 3.0):
        _set_grads(net, n)
        mon.step(torch.tensor(0.5))
    net[0].weight.grad[0, 0] = float("nan")
    mon.step(torch.tensor(float("inf")))
    (r,) = mon.drain()
    assert r["nonfinite_steps"] == 1
    assert r["grad_norm"]["mean"][0] == pytest.approx(2.0)  # mean over the finite steps
    assert r["grad_norm"]["max"][0] == pytest.approx(3.0)  # NaN skipped
    assert r["grad_norm"]["mean"][1] == pytest.approx(2.25)  # other layers were finite on all 4
    assert r["loss"]["max"] is None  # inf is not JSON: null
    json.dumps(r, allow_nan=False)


def test_tiny_gradients_survive_the_monitor():
    net = nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 64))
    mon = GradientMonitor(net, sync_every=5, activation_every=100)
    g = torch.randn(64, 64, generator=torch.Generator().manual_seed(0))
    for _ in range(5):
        net[0].weight.grad = g * 1e-25
        net[1].weight.grad = g.clone()
        mon.step(torch.tensor(1.0))
    (r,) = mon.drain()
    assert r["grad_norm"]["mean"][0] == pytest.approx((g.double() * 1e-25).norm().item(), rel=1e-5)
    assert r["grad_norm"]["mean"][1] == pytest.approx(g.double().norm().item(), rel=1e-5)
    assert mon._precise == [True, False]  # float64 only where float32 would underflow


def test_update_ratio_is_that_steps_update():
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    mon = GradientMonitor(net, sync_every=2, activation_every=2)
    x = torch.randn(16, 4)
    want = None
    for step in range(2):
        opt.zero_grad()
        loss = ((net(x) - x) ** 2).mean()
        loss.backward()
        if step == 0:  # the sampled update: lr * ||g|| / ||w||
            want = [
                0.05 * m.weight.grad.norm().item() / m.weight.norm().item() for m in net if isinstance(m, nn.Linear)
            ]
        mon.step(loss)
        opt.step()
    (r,) = mon.drain()
    assert r["update_ratio"] == pytest.approx(want, rel=1e-4)
    assert mon.flush() is None


def test_activations_on_sampled_steps_only():
    net = _net()
    mon = GradientMonitor(net, sync_every=2, activation_every=4)
    x = torch.randn(16, 4)
    for _ in range(6):
        with torch.no_grad():
            net(x * 100)  # evaluation passes are ignored
        loss = ((net(x) - x) ** 2).mean()
        loss.backward()
        mon.step(loss)
        net.zero_grad()
    recs = mon.drain()
    sampled = [bool(r["activations"]) for r in recs]
    assert sampled == [True, False, True]  # steps 0 and 4
    acts = recs[0]["activations"]
    assert list(acts) == ["1", "3", "5"]
    assert acts["1"]["family"] == "relu" and acts["1"]["saturated"] is None
    assert acts["3"]["family"] == "sigmoid" and acts["3"]["dead"] is None
    assert acts["5"]["output"] is True and acts["1"]["output"] is False
    with torch.no_grad():
        h = net[1](net[0](x))
    assert acts["1"]["mean"] == pytest.approx(h.mean().item(), rel=1e-5)
    mon.close()
    assert all(not m._forward_hooks for m in net)


def test_hooks_exist_only_around_sampled_steps():
    net = _net()
    mon = GradientMonitor(net, sync_every=10, activation_every=3)
    assert net[1]._forward_hooks  # armed for step 0
    x = torch.randn(4, 4)
    armed = []
    for _ in range(6):
        net(x).sum().backward()
        mon.step()
        armed.append(bool(net[1]._forward_hooks))
    assert armed == [False, False, True, False, False, True]  # armed before steps 3 and 6
    assert mon.flush()["loss"] is None  # no loss given


def test_one_host_sync_per_window(monkeypatch):
    net = _net()
    x = torch.randn(8, 4)
    mon = GradientMonitor(net, sync_every=5, activation_every=5)
    calls = {"tolist": 0, "item": 0}
    real_tolist, real_item = torch.Tensor.tolist, torch.Tensor.item

    def tolist(self):
        calls["tolist"] += 1
        return real_tolist(self)

    def item(self):
        calls["item"] += 1
        return real_item(self)

    monkeypatch.setattr(torch.Tensor, "tolist", tolist)
    monkeypatch.setattr(torch.Tensor, "item", item)
    for _ in range(20):
        loss = ((net(x) - x) ** 2).mean()
        loss.backward()
        mon.step(loss)
        net.zero_grad()
    assert len(mon.records()) == 4
    assert calls == {"tolist": 1 + 4, "item": 0}  # the first-step precision probe + one per window


def _run(net, opt, mon, xs, start, stop):
    for i in range(start, stop):
        opt.zero_grad()
        loss = ((net(xs[i]) - xs[i]) ** 2).mean()
        loss.backward()
        mon.step(loss)
        opt.step()


def test_state_dict_resume_continues_identically(tmp_path):
    xs = torch.randn(23, 8, 4, generator=torch.Generator().manual_seed(0))
    kw = {"sync_every": 5, "activation_every": 3, "update_every": 4}

    net = _net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    mon = GradientMonitor(net, **kw)
    _run(net, opt, mon, xs, 0, 23)
    mon.flush()
    straight = mon.records()

    net_a = _net()
    opt_a = torch.optim.Adam(net_a.parameters(), lr=1e-2)
    mon_a = GradientMonitor(net_a, **kw)
    _run(net_a, opt_a, mon_a, xs, 0, 13)  # step 12 snapshotted an update still to be measured
    torch.save({"m": net_a.state_dict(), "o": opt_a.state_dict(), "mon": mon_a.state_dict()}, tmp_path / "s.pt")

    state = torch.load(tmp_path / "s.pt", weights_only=True)
    net_b = _net(seed=1)
    net_b.load_state_dict(state["m"])
    opt_b = torch.optim.Adam(net_b.parameters(), lr=1e-2)
    opt_b.load_state_dict(state["o"])
    mon_b = GradientMonitor(net_b, **kw)
    mon_b.load_state_dict(state["mon"])
    assert mon_b.steps == 13
    _run(net_b, opt_b, mon_b, xs, 13, 23)
    mon_b.flush()
    assert mon_b.records() == straight


def test_read_records_round_trip(tmp_path):
    net = _net()
    mon = GradientMonitor(net, sync_every=2)
    x = torch.randn(4, 4)
    for _ in range(4):
        loss = ((net(x) - x) ** 2).mean()
        loss.backward()
        mon.step(loss)
        net.zero_grad()
    path = tmp_path / "gradients.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in mon.drain()))
    assert read_records(path) == mon.records()


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        GradientMonitor(_net(), sync_every=0)


def test_given_norms_are_used_and_tiny_layers_still_remeasured():
    """The loop shares one float32 norm pass with the monitor; float64 layers are re-measured."""
    net = nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 64))
    own = GradientMonitor(net, sync_every=4, activation_every=100)
    shared = GradientMonitor(net, sync_every=4, activation_every=100)
    g = torch.randn(64, 64, generator=torch.Generator().manual_seed(1))
    for k in range(4):
        net[0].weight.grad = g * 1e-25  # float32 squares underflow: the monitor must use float64
        net[1].weight.grad = g * (k + 1)
        own.step(torch.tensor(1.0))
        given = torch._foreach_norm([w.grad for w in shared.weights], 2)
        shared.step(torch.tensor(1.0), grad_norms=[given[0] * 0 + 123.0, given[1]])  # layer 0's is wrong on purpose
    (a,) = own.drain()
    (b,) = shared.drain()
    assert b["grad_norm"]["mean"][0] == pytest.approx((g.double() * 1e-25).norm().item(), rel=1e-5)
    assert b["grad_norm"]["mean"] == pytest.approx(a["grad_norm"]["mean"], rel=1e-6)
    assert b["grad_norm"]["max"] == pytest.approx(a["grad_norm"]["max"], rel=1e-6)
    with pytest.raises(ValueError, match="2 layers"):
        shared.step(torch.tensor(1.0), grad_norms=[given[0]])


def test_given_norms_as_one_vector_equal_the_monitors_own():
    """The loop passes the dense step's norms as one 1-D tensor: copied into the window as they are."""
    net = nn.Sequential(nn.Linear(32, 16), nn.Linear(16, 8))
    own = GradientMonitor(net, sync_every=3, activation_every=100)
    shared = GradientMonitor(net, sync_every=3, activation_every=100)
    gen = torch.Generator().manual_seed(2)
    for k in range(3):
        net[0].weight.grad = torch.randn(16, 32, generator=gen) * (k + 1)
        net[1].weight.grad = torch.randn(8, 16, generator=gen)
        own.step(torch.tensor(0.5 + k))
        vec = torch.stack(torch._foreach_norm([w.grad for w in shared.weights], 2))
        shared.step(torch.tensor(0.5 + k), grad_norms=vec * (1.0 if k else 7.0))  # step 0 is probed in float64
    (a,) = own.drain()
    (b,) = shared.drain()
    assert b["grad_norm"]["mean"] == pytest.approx(a["grad_norm"]["mean"], rel=1e-6)
    assert b["grad_norm"]["max"] == pytest.approx(a["grad_norm"]["max"], rel=1e-6)
    assert b["loss"] == pytest.approx(a["loss"], rel=1e-12)
    with pytest.raises(ValueError, match="shape \\(3,\\) for 2 layers"):
        shared.step(torch.tensor(1.0), grad_norms=torch.ones(3))
