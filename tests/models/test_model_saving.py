"""save_model -> load_model round trips: same outputs, extras, config and shape; bad files are UserErrors."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from aegrad.config import ModelConfig
from aegrad.errors import UserError
from aegrad.models import create_model, load_model, save_model


@pytest.mark.parametrize(
    "cfg, shape",
    [
        (ModelConfig(widths=[16, 8], latent=4, norm="batch", activation="prelu", negative_slope=0.25), (12,)),
        (ModelConfig(kind="conv", channels=[4, 8], latent=5, norm="batch"), (1, 9, 9)),
        (ModelConfig(depth=2, width=8, latent=3, residual=True, norm="layer", output="identity"), (2, 3, 3)),
    ],
)
def test_round_trip(tmp_path, cfg, shape):
    torch.manual_seed(0)
    model = create_model(cfg, shape)
    model(torch.rand(16, *shape))  # train-mode pass: batch-norm running stats move off their init
    model.eval()
    extra = {"normalizer.lo": torch.rand(*shape), "normalizer.scale": torch.tensor(2.5)}
    path = tmp_path / "model.safetensors"
    save_model(model, path, cfg, shape, extra)

    rng = torch.get_rng_state()
    loaded, cfg2, shape2, extra2 = load_model(path)
    assert torch.equal(torch.get_rng_state(), rng)  # loading does not shift a seeded run
    assert cfg2 == cfg and shape2 == shape
    assert extra2.keys() == extra.keys() and all(torch.equal(extra2[k], extra[k]) for k in extra)
    assert not loaded.training
    x = torch.rand(4, *shape)
    a, b = model(x), loaded(x)
    assert torch.equal(a["x_hat"], b["x_hat"]) and torch.equal(a["z"], b["z"])
    sa, sb = model.state_dict(), loaded.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no temp file left behind


def test_save_without_extra_and_overwrite(tmp_path):
    cfg = ModelConfig(widths=[4], latent=2)
    path = tmp_path / "m.safetensors"
    save_model(create_model(cfg, (3,)), path, cfg, (3,))
    save_model(create_model(cfg, (3,)), path, cfg, (3,))
    assert load_model(path)[3] == {}


def test_bad_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_model(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file at all")
    with pytest.raises(UserError, match="not a readable"):
        load_model(junk)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(UserError, match="not an aegrad model"):
        load_model(foreign)
