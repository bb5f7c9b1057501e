"""The user's own data: npy, csv, image folders, text files; every malformed case is a one-line UserError."""

import numpy as np
import pytest
import torch
from PIL import Image

from aegrad.config import DataConfig
from aegrad.data import load_dataset
from aegrad.errors import UserError


def load(**kw):
    return load_dataset(DataConfig(normalize="none", **kw), seed=0)


def expect_error(match, **kw):
    with pytest.raises(UserError, match=match) as info:
        load(**kw)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- npy


@pytest.mark.parametrize(
    ("shape", "sample_shape", "is_image"),
    [((10, 6), (6,), False), ((10, 4, 5), (1, 4, 5), True), ((10, 3, 4, 5), (3, 4, 5), True)],
)
def test_npy_shapes(tmp_path, shape, sample_shape, is_image):
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    np.save(tmp_path / "x.npy", x)
    ds = load(source="npy", path=str(tmp_path / "x.npy"), test_fraction=0.3)
    assert ds.sample_shape == sample_shape and ds.is_image is is_image
    assert len(ds.train_x) == 7 and len(ds.test_x) == 3 and ds.train_y is None
    back = torch.cat([ds.train_x, ds.test_x]).reshape(10, -1)
    assert sorted(back[:, 0].tolist()) == x.reshape(10, -1)[:, 0].tolist()  # every sample, unchanged


def test_npy_labels_follow_their_samples(tmp_path):
    x = np.repeat(np.arange(20.0)[:, None], 3, axis=1)  # sample i is [i, i, i]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.arange(20) % 4)
    ds = load(source="npy", path=str(tmp_path / "x.npy"), labels_path=str(tmp_path / "y.npy"))
    for xs, ys in ((ds.train_x, ds.train_y), (ds.test_x, ds.test_y)):
        assert ys.dtype == torch.int64
        assert ys.tolist() == [int(v) % 4 for v in xs[:, 0].tolist()]
    (tmp_path / "y.csv").write_text("\n".join(str(i % 4) for i in range(20)))
    ds2 = load(source="npy", path=str(tmp_path / "x.npy"), labels_path=str(tmp_path / "y.csv"))
    assert torch.equal(ds2.train_y, ds.train_y)


def test_npy_malformed(tmp_path):
    expect_error("npy file not found", source="npy", path=str(tmp_path / "missing.npy"))
    (tmp_path / "junk.npy").write_bytes(b"this is not numpy")
    expect_error("junk.npy is not a .npy file", source="npy", path=str(tmp_path / "junk.npy"))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    expect_error("cannot read .*obj.npy", source="npy", path=str(tmp_path / "obj.npy"))
    np.save(tmp_path / "str.npy", np.array([["a", "b"], ["c", "d"]]))
    expect_error("real numbers", source="npy", path=str(tmp_path / "str.npy"))
    np.save(tmp_path / "nan.npy", np.array([[1.0, 2.0], [np.nan, 0.0], [1.0, 1.0]]))
    expect_error("sample 1 holds NaN or inf", source="npy", path=str(tmp_path / "nan.npy"))
    np.save(tmp_path / "inf.npy", np.array([[1.0, np.inf], [0.0, 0.0]]))
    expect_error("finite", source="npy", path=str(tmp_path / "inf.npy"))
    np.save(tmp_path / "1d.npy", np.arange(5.0))
    expect_error(r"must be \(N, D\).*got shape \(5,\)", source="npy", path=str(tmp_path / "1d.npy"))
    np.save(tmp_path / "5d.npy", np.zeros((2, 1, 1, 1, 1)))
    expect_error("got shape", source="npy", path=str(tmp_path / "5d.npy"))
    np.save(tmp_path / "one.npy", np.zeros((1, 4)))
    expect_error("at least 2 samples", source="npy", path=str(tmp_path / "one.npy"))
    np.save(tmp_path / "x.npy", np.zeros((5, 2)))
    np.save(tmp_path / "y4.npy", np.arange(4))
    expect_error(
        "4 labels for 5 samples", source="npy", path=str(tmp_path / "x.npy"), labels_path=str(tmp_path / "y4.npy")
    )
    np.save(tmp_path / "yf.npy", np.array([0, 1, 0.5, 1, 0]))
    expect_error(
        "labels must be integers", source="npy", path=str(tmp_path / "x.npy"), labels_path=str(tmp_path / "yf.npy")
    )
    np.save(tmp_path / "y2d.npy", np.zeros((5, 2)))
    expect_error(
        "labels must be 1-D", source="npy", path=str(tmp_path / "x.npy"), labels_path=str(tmp_path / "y2d.npy")
    )
    expect_error("not found", source="npy", path=str(tmp_path / "x.npy"), labels_path=str(tmp_path / "none.npy"))
    expect_error("needs data.path", source="npy")


# ---------------------------------------------------------------- csv


def test_csv_with_header_and_label_column(tmp_path):
    rows = [f"{i},{i * 2},{i % 3}" for i in range(12)]
    (tmp_path / "d.csv").write_text("a,b,label\n" + "\n".join(rows) + "\n")
    ds = load(source="csv", path=str(tmp_path / "d.csv"), label_column=-1, test_fraction=0.25)
    assert ds.sample_shape == (2,) and not ds.is_image
    assert len(ds.train_x) == 9 and len(ds.test_x) == 3
    for xs, ys in ((ds.train_x, ds.train_y), (ds.test_x, ds.test_y)):
        assert ys.tolist() == [int(v) % 3 for v in xs[:, 0].tolist()]
        assert torch.equal(xs[:, 1], xs[:, 0] * 2)


def test_csv_without_header_tabs_and_labels_file(tmp_path):
    (tmp_path / "d.tsv").write_text("\n".join(f"{i}\t{-i}\t0.5" for i in range(6)))
    np.save(tmp_path / "y.npy", np.arange(6))
    ds = load(source="csv", path=str(tmp_path / "d.tsv"), labels_path=str(tmp_path / "y.npy"))
    assert ds.sample_shape == (3,) and len(ds.train_x) + len(ds.test_x) == 6
    assert ds.train_y.tolist() == [int(v) for v in ds.train_x[:, 0].tolist()]


def test_csv_malformed(tmp_path):
    expect_error("csv file not found", source="csv", path=str(tmp_path / "none.csv"))
    (tmp_path / "empty.csv").write_text("\n\n")
    expect_error("is empty", source="csv", path=str(tmp_path / "empty.csv"))
    (tmp_path / "text.csv").write_text("\na,b\n1,2\n3,x\n")
    expect_error("not a numeric CSV: line 4 holds 'x'", source="csv", path=str(tmp_path / "text.csv"))
    (tmp_path / "ragged.csv").write_text("1,2,3\n4,5\n6,7,8\n")
    expect_error("line 2 has 2 values, earlier lines 3", source="csv", path=str(tmp_path / "ragged.csv"))
    (tmp_path / "nan.csv").write_text("1,2\nnan,3\n4,5\n")
    expect_error("NaN or inf", source="csv", path=str(tmp_path / "nan.csv"))
    (tmp_path / "one.csv").write_text("x,y\n1,2\n")
    expect_error("at least 2 samples", source="csv", path=str(tmp_path / "one.csv"))
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x01garbage")
    expect_error("bin.csv", source="csv", path=str(tmp_path / "bin.csv"))
    (tmp_path / "ok.csv").write_text("1,2,0\n3,4,1\n5,6,2\n")
    expect_error("label_column=5 is out of range", source="csv", path=str(tmp_path / "ok.csv"), label_column=5)
    (tmp_path / "lf.csv").write_text("1,2,0.5\n3,4,1\n5,6,2\n")
    expect_error("labels must be integers", source="csv", path=str(tmp_path / "lf.csv"), label_column=2)
    (tmp_path / "y.csv").write_text("0\n1\n")
    expect_error(
        "2 labels for 3 samples", source="csv", path=str(tmp_path / "ok.csv"), labels_path=str(tmp_path / "y.csv")
    )
    np.save(tmp_path / "y3.npy", np.arange(3))
    expect_error(
        "not both", source="csv", path=str(tmp_path / "ok.csv"), label_column=0, labels_path=str(tmp_path / "y3.npy")
    )


# ---------------------------------------------------------------- images


def _png(path, value, size=(10, 6), mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 255 - value, 7)
    Image.new(mode, size, color).save(path)


def test_image_folder_with_class_subfolders(tmp_path):
    for i in range(4):
        _png(tmp_path / "cats" / f"c{i}.png", 200)
        _png(tmp_path / "ants" / "deep" / f"a{i}.PNG", 50)  # nested, upper-case suffix
    Image.new("RGB", (5, 5), (50, 50, 50)).save(tmp_path / "ants" / "a9.jpg")
    ds = load(source="images", path=str(tmp_path), image_size=8, test_fraction=0.3)
    assert ds.sample_shape == (1, 8, 8) and ds.is_image
    assert len(ds.train_x) + len(ds.test_x) == 9
    for xs, ys in ((ds.train_x, ds.train_y), (ds.test_x, ds.test_y)):
        # Sorted class names: ants -> 0, cats -> 1; pixel values stay in 0..255.
        assert ys.tolist() == [0 if v < 128 else 1 for v in xs[:, 0, 0, 0].tolist()]
    assert set(torch.cat([ds.train_x, ds.test_x]).unique().tolist()) == {50.0, 200.0}


def test_image_folder_rgb_without_labels(tmp_path):
    for i in range(3):
        _png(tmp_path / f"{i}.png", 10 * i, size=(12, 12), mode="RGB")
    ds = load(source="images", path=str(tmp_path), image_size=4, grayscale=False)
    assert ds.sample_shape == (3, 4, 4) and ds.train_y is None
    allx = torch.cat([ds.train_x, ds.test_x])
    assert allx[:, 2].eq(7).all()  # the blue channel is the constant 7: channels first


def test_image_folder_errors(tmp_path):
    expect_error("image folder not found", source="images", path=str(tmp_path / "none"))
    (tmp_path / "notes.txt").write_text("no images here")
    expect_error("no images", source="images", path=str(tmp_path))
    _png(tmp_path / "ok.png", 1)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    expect_error("cannot read image .*broken.png", source="images", path=str(tmp_path))
