"""Normalizer: round trips, fitted on train only, state_dict through safetensors."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from aegrad.config import DataConfig
from aegrad.data import Normalizer, load_dataset
from aegrad.data.normalize import KINDS
from aegrad.errors import UserError


def test_kinds_match_config_choices():
    from typing import get_args

    assert set(KINDS) == set(get_args(DataConfig.model_fields["normalize"].annotation))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(50, 7), (50, 1, 4, 4)])
def test_inverse_transform_round_trip(kind, shape):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=g) * 200 + 30
    x[:, 0] = 5.0  # a constant feature must not break either direction
    norm = Normalizer(kind).fit(x)
    z = norm.transform(x)
    assert torch.isfinite(z).all()
    torch.testing.assert_close(norm.inverse(z), x, rtol=1e-5, atol=1e-3)


def test_minmax_maps_train_to_unit_interval_with_global_scalars():
    x = torch.tensor([[0.0, 10.0], [5.0, 20.0]])
    norm = Normalizer("minmax").fit(x)
    assert norm.offset_.shape == () and norm.scale_.shape == ()
    torch.testing.assert_close(norm.transform(x), torch.tensor([[0.0, 0.5], [0.25, 1.0]]))
    constant = Normalizer("minmax").fit(torch.full((3, 2), 7.0))
    assert torch.equal(constant.transform(torch.full((1, 2), 7.0)), torch.zeros(1, 2))


def test_zscore_is_per_feature_and_floors_constant_pixels():
    x = torch.tensor([[1.0, 100.0], [3.0, 300.0]])
    z = Normalizer("zscore").fit(x).transform(x)
    torch.testing.assert_close(z, torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))
    # Images: a pixel always 0 in training is divided by a floor, not 1e-8.
    imgs = torch.rand(100, 1, 3, 3, generator=torch.Generator().manual_seed(1)) * 255
    imgs[:, :, 0, 0] = 0.0
    norm = Normalizer("zscore").fit(imgs)
    probe = torch.zeros(1, 1, 3, 3)
    probe[0, 0, 0, 0] = 255.0
    assert norm.transform(probe)[0, 0, 0, 0] < 50
    # Vectors keep features in different units apart: a small-scale feature is not floored.
    vec = torch.stack([torch.linspace(0, 1e5, 20), torch.linspace(0, 1e-3, 20), torch.zeros(20)], 1)
    zv = Normalizer("zscore").fit(vec).transform(vec)
    torch.testing.assert_close(zv[:, 0], zv[:, 1])
    assert torch.equal(zv[:, 2], torch.zeros(20))  # constant feature: centred, scale 1


def test_state_dict_round_trip_through_safetensors(tmp_path):
    x = torch.randn(30, 1, 5, 5, generator=torch.Generator().manual_seed(2)) * 3 + 1
    for kind in KINDS:
        norm = Normalizer(kind).fit(x)
        state = norm.state_dict()
        assert all(isinstance(v, torch.Tensor) for v in state.values())
        save_file({f"normalizer.{k}": v for k, v in state.items()}, tmp_path / "m.safetensors")
        loaded = {k.removeprefix("normalizer."): v for k, v in load_file(tmp_path / "m.safetensors").items()}
        back = Normalizer.from_state_dict(loaded)
        assert back.kind == kind
        torch.testing.assert_close(back.transform(x), norm.transform(x))


def test_bad_kind_and_unfitted():
    with pytest.raises(UserError, match="valid: none, minmax, zscore"):
        Normalizer("l2")
    with pytest.raises(RuntimeError):
        Normalizer("minmax").transform(torch.zeros(2))


def test_fitted_on_train_split_only():
    ds = load_dataset(DataConfig(source="random", samples=200, dim=5, normalize="zscore"), seed=3)
    torch.testing.assert_close(ds.train_x.mean(0), torch.zeros(5), atol=1e-5, rtol=0)
    torch.testing.assert_close(ds.train_x.std(0, unbiased=False), torch.ones(5), atol=1e-5, rtol=0)
    assert not torch.allclose(ds.test_x.mean(0), torch.zeros(5), atol=1e-3)  # test stats did not leak in
    ds = load_dataset(DataConfig(source="digits", normalize="minmax"), seed=0)
    assert ds.train_x.min() == 0.0 and ds.train_x.max() == 1.0
    raw_test = ds.normalizer.inverse(ds.test_x)
    torch.testing.assert_close(raw_test, raw_test.round(), atol=1e-4, rtol=0)  # digits are integers 0..16


@pytest.mark.parametrize("kind", ["none", "minmax", "zscore"])
def test_in_place_transform_equals_transform(kind):
    x = torch.rand(50, 1, 4, 4) * 255
    norm = Normalizer(kind).fit(x)
    expected = norm.transform(x)
    y = x.clone()
    out = norm.transform_(y)
    assert out.data_ptr() == y.data_ptr()  # really in place
    torch.testing.assert_close(out, expected)
