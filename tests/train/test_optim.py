"""Every registered optimizer against its textbook update, written out here by hand."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from aegrad.config import TrainConfig
from aegrad.train import optim
from aegrad.train.optim import create_optimizer, list_optimizers, param_groups

LR, MU, BETAS, EPS, ALPHA = 0.1, 0.9, (0.9, 0.999), 1e-8, 0.99
A = np.array([[2.0, 0.5, 0.0], [0.3, 1.0, -0.7], [0.0, -0.4, 1.5], [1.0, 0.0, 0.2]])
B = np.array([1.0, -2.0, 0.5, 3.0])
W0 = np.array([0.5, -1.0, 2.0])


def grad(w: np.ndarray) -> np.ndarray:
    """Gradient of f(w) = 1/2 ||A w - b||^2."""
    return A.T @ (A @ w - B)


# Each reference takes (w, g, state, t) with t = 1, 2, ... and returns the new w (state is a dict it may fill).
# Decoupled weight decay is applied by the caller first: w <- w - lr * wd * w, with g taken at the old w.


def ref_sgd(w, g, s, t):
    return w - LR * g


def ref_momentum(w, g, s, t):
    # heavy ball as torch writes it: v <- mu v + g (v starts at 0, so v_1 = g_1); w <- w - lr v
    s["v"] = MU * s.get("v", 0.0) + g
    return w - LR * s["v"]


def ref_nesterov(w, g, s, t):
    # Sutskever et al. (2013) in torch's form: v <- mu v + g; w <- w - lr (g + mu v)
    s["v"] = MU * s.get("v", 0.0) + g
    return w - LR * (g + MU * s["v"])


def ref_adam(w, g, s, t):
    b1, b2 = BETAS
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["s"] = b2 * s.get("s", 0.0) + (1 - b2) * g * g
    m_hat = s["m"] / (1 - b1**t)  # bias correction (Kingma & Ba 2015, Algorithm 1)
    s_hat = s["s"] / (1 - b2**t)
    return w - LR * m_hat / (np.sqrt(s_hat) + EPS)


def ref_rmsprop(w, g, s, t):
    s["s"] = ALPHA * s.get("s", 0.0) + (1 - ALPHA) * g * g
    return w - LR * g / (np.sqrt(s["s"]) + EPS)


def ref_adagrad(w, g, s, t):
    s["s"] = s.get("s", 0.0) + g * g
    return w - LR * g / (np.sqrt(s["s"]) + EPS)


REFERENCES = {
    "sgd": ref_sgd,
    "momentum": ref_momentum,
    "nesterov": ref_nesterov,
    "adam": ref_adam,
    "adamw": ref_adam,  # AdamW = Adam + decoupled decay, which the caller applies
    "rmsprop": ref_rmsprop,
    "adagrad": ref_adagrad,
}


def _cfg(name: str, wd: float = 0.0) -> TrainConfig:
    return TrainConfig(optimizer=name, lr=LR, momentum=MU, betas=BETAS, eps=EPS, alpha=ALPHA, weight_decay=wd)


def test_every_optimizer_has_a_reference():
    assert sorted(REFERENCES) == list_optimizers()


@pytest.mark.parametrize("wd", [0.0, 0.2])
@pytest.mark.parametrize("name", list_optimizers())
def test_first_steps_match_textbook(name: str, wd: float):
    w = nn.Parameter(torch.tensor(W0, dtype=torch.float64))
    opt = create_optimizer([w], _cfg(name, wd))
    ref_w, state = W0.copy(), {}
    for t in (1, 2, 3):
        opt.zero_grad()
        loss = 0.5 * ((torch.tensor(A) @ w - torch.tensor(B)) ** 2).sum()
        loss.backward()
        np.testing.assert_allclose(w.grad.numpy(), grad(ref_w), rtol=1e-12)
        opt.step()
        g = grad(ref_w)
        ref_w = REFERENCES[name](ref_w - LR * wd * ref_w, g, state, t)
        np.testing.assert_allclose(w.detach().numpy(), ref_w, rtol=1e-9, atol=1e-12, err_msg=f"{name} step {t}")


def test_adam_bias_correction_makes_the_first_step_lr_sized():
    # m_hat / sqrt(s_hat) = g / |g| at t = 1: every coordinate moves by lr (up to eps), whatever g's scale.
    # Without the correction the step would be lr * (1 - b1) / sqrt(1 - b2) = 3.16 lr.
    g = np.array([1e-4, -50.0, 7.0])
    w = nn.Parameter(torch.tensor([1.0, -3.0, 1e-3], dtype=torch.float64))
    opt = create_optimizer([w], _cfg("adam"))
    (w * torch.tensor(g)).sum().backward()
    before = w.detach().clone()
    opt.step()
    np.testing.assert_allclose((before - w.detach()).numpy(), LR * g / (np.abs(g) + EPS), rtol=1e-9)


@pytest.mark.parametrize("name", list_optimizers())
def test_decay_is_decoupled(name: str):
    # With a zero gradient, decoupled decay alone moves w: w <- (1 - lr wd) w, and no moment sees it.
    w = nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = create_optimizer([w], _cfg(name, wd=0.5))
    for k in range(1, 4):
        w.grad = torch.zeros_like(w)
        opt.step()
        np.testing.assert_allclose(w.detach().numpy(), np.array([1.0, -2.0]) * (1 - LR * 0.5) ** k, rtol=1e-12)


def test_adam_with_decay_equals_adamw():
    ws = [nn.Parameter(torch.tensor(W0)) for _ in range(2)]
    opts = [create_optimizer([ws[0]], _cfg("adam", 0.3)), create_optimizer([ws[1]], _cfg("adamw", 0.3))]
    for _ in range(3):
        for w, opt in zip(ws, opts):
            opt.zero_grad()
            (0.5 * ((torch.tensor(A) @ w - torch.tensor(B)) ** 2).sum()).backward()
            opt.step()
    torch.testing.assert_close(ws[0], ws[1], rtol=1e-12, atol=1e-14)


def _net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.PReLU(), nn.Flatten(),
        nn.Linear(12, 5), nn.LayerNorm(5), nn.Linear(5, 2),
    )


def test_param_groups_decay_only_linear_and_conv_weights():
    net = _net()
    groups = param_groups(net, _cfg("sgd", 0.1))
    by_name = {g["name"]: g for g in groups}
    assert {id(p) for p in by_name["weights"]["params"]} == {id(net[0].weight), id(net[4].weight), id(net[6].weight)}
    assert by_name["weights"]["weight_decay"] == 0.1 and by_name["no_decay"]["weight_decay"] == 0.0
    assert len(by_name["weights"]["params"]) + len(by_name["no_decay"]["params"]) == len(list(net.parameters()))

    before = copy.deepcopy(net)
    opt = create_optimizer(groups, _cfg("momentum", 0.1))
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for (name, p), p0 in zip(net.named_parameters(), before.parameters()):
        decayed = any(p is q for q in by_name["weights"]["params"])
        torch.testing.assert_close(p.detach(), p0.detach() * (1 - LR * 0.1) if decayed else p0.detach(), msg=name)


@pytest.mark.parametrize("name", list_optimizers())
def test_fast_implementation_matches_the_reference_loop(name: str, monkeypatch):
    """create_optimizer's fused/foreach kernels against torch's per-tensor loop (foreach=False), float32."""
    torch.manual_seed(0)
    nets = [_net()]
    nets.append(copy.deepcopy(nets[0]))
    cfg = _cfg(name, 0.05).model_copy(update={"lr": 1e-2})
    fast = create_optimizer(param_groups(nets[0], cfg), cfg)
    monkeypatch.setattr(optim, "_implementation", lambda groups: {"foreach": False})
    slow = create_optimizer(param_groups(nets[1], cfg), cfg)
    assert fast.defaults.get("fused") or fast.defaults.get("foreach")
    for _ in range(4):
        # The same gradients for both (from the loss they would amplify rounding noise, e.g. in a
        # conv bias that BatchNorm makes irrelevant, whose true gradient is 0).
        grads = [torch.randn_like(p) * 10.0 ** torch.randint(-6, 2, ()) for p in nets[0].parameters()]
        for net, opt in zip(nets, (fast, slow)):
            for p, g in zip(net.parameters(), grads):
                p.grad = g.clone()
            opt.step()
    for p, q in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["nesterov", "adam", "sgd"])
def test_state_dict_round_trip_continues_identically(name: str):
    cfg = _cfg(name, 0.1)
    ws = [nn.Parameter(torch.tensor(W0)) for _ in range(2)]

    def step(w, opt):
        opt.zero_grad()
        (0.5 * ((torch.tensor(A) @ w - torch.tensor(B)) ** 2).sum()).backward()
        opt.step()

    a = create_optimizer([ws[0]], cfg)
    for _ in range(2):
        step(ws[0], a)
    with torch.no_grad():
        ws[1].copy_(ws[0])
    b = create_optimizer([ws[1]], cfg)
    b.load_state_dict(copy.deepcopy(a.state_dict()))
    for _ in range(3):
        step(ws[0], a)
        step(ws[1], b)
    torch.testing.assert_close(ws[0], ws[1], rtol=0, atol=0)


def test_unknown_optimizer_lists_valid_names():
    cfg = _cfg("sgd")
    object.__setattr__(cfg, "optimizer", "lbfgs")  # bypass validation to reach the registry
    with pytest.raises(KeyError, match="valid: adagrad, adam"):
        create_optimizer([nn.Parameter(torch.zeros(2))], cfg)


# -- fused_adam_step: the loop's direct call of torch's fused Adam kernel ----------------------------------


def _adam_pair(name: str, wd: float):
    cfg = TrainConfig(optimizer=name, lr=0.01, weight_decay=wd)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    twin = copy.deepcopy(model)
    return model, twin, create_optimizer(param_groups(model, cfg), cfg), create_optimizer(param_groups(twin, cfg), cfg)


@pytest.mark.parametrize("name,wd", [("adam", 0.0), ("adam", 0.1), ("adamw", 0.0), ("adamw", 0.1)])
def test_fused_adam_step_equals_step_bit_for_bit(name, wd):
    model, twin, ref, fast = _adam_pair(name, wd)
    g = torch.Generator().manual_seed(3)
    for t in range(5):
        for a, b in zip(model.parameters(), twin.parameters()):
            grad = torch.randn(a.shape, generator=g)
            a.grad, b.grad = grad.clone(), grad.clone()
        if t == 3:  # a schedule changing the lr between steps
            for opt in (ref, fast):
                for group in opt.param_groups:
                    group["lr"] = 0.003
        ref.step()
        assert optim.fused_adam_step(fast)  # from the first step: it creates the state as Adam does
    for a, b in zip(model.parameters(), twin.parameters()):
        assert torch.equal(a, b)
    sa, sb = ref.state_dict()["state"], fast.state_dict()["state"]
    assert sa.keys() == sb.keys()
    for k in sa:
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(sa[k][key], sb[k][key]), (k, key)
            assert sa[k][key].dtype == sb[k][key].dtype


@pytest.mark.parametrize("name,wd,calls", [("adam", 0.0, 1), ("adam", 0.1, 2), ("adamw", 0.0, 1), ("adamw", 0.1, 2)])
def test_groups_with_equal_hyperparameters_share_one_kernel_call(monkeypatch, name, wd, calls):
    model, _, fast, _ = _adam_pair(name, wd)
    assert len(fast.param_groups) == 2  # weights and biases
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    seen = []
    for kernel in ("_fused_adam_", "_fused_adamw_"):
        real = getattr(torch, kernel)

        def spy(params, *args, _real=real, **kwargs):
            seen.append(len(params))
            return _real(params, *args, **kwargs)

        monkeypatch.setattr(torch, kernel, spy)
    assert optim.fused_adam_step(fast)
    assert len(seen) == calls and sum(seen) == len(list(model.parameters()))
    steps = [fast.state[p]["step"] for p in model.parameters()]
    assert all(float(s) == 1.0 for s in steps)  # every parameter's step counted once


def test_fused_adam_step_declines_what_it_does_not_cover():
    model, _, opt, _ = _adam_pair("adam", 0.0)
    assert not optim.fused_adam_step(opt)  # no gradients yet
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    handle = opt.register_step_post_hook(lambda *a: None)
    assert not optim.fused_adam_step(opt)  # a hook only step() would run
    handle.remove()
    assert optim.fused_adam_step(opt)
    sgd = create_optimizer(model.parameters(), TrainConfig(optimizer="momentum", lr=0.1))
    assert not optim.fused_adam_step(sgd)
    amsgrad = torch.optim.Adam(model.parameters(), amsgrad=True, fused=True)
    assert not optim.fused_adam_step(amsgrad)


def test_defer_dynamo_import_keeps_optimizers_working(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys, torch\n"
        "from aegrad.train.optim import defer_dynamo_import, fused_adam_step\n"
        "defer_dynamo_import()\n"
        "p = torch.nn.Parameter(torch.ones(3))\n"
        "opt = torch.optim.Adam([p], lr=0.1, fused=True)\n"
        "p.grad = torch.ones(3)\n"
        "assert fused_adam_step(opt)\n"
        "state = opt.state_dict()\n"
        "opt.load_state_dict(state)\n"
        "opt.zero_grad()\n"
        "assert p.grad is None and abs(float(p[0]) - 0.9) < 1e-6\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
