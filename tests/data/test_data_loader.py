"""The loader on PDEBench layouts made by hand, and its errors for bad files."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from pdejax.config import ConfigError
from pdejax.data import DataError, LazyArray, describe_file, generate, load_dataset
from tests.data.conftest import tiny_heat

RNG = np.random.default_rng(0)


def pdebench_1d(path, n=20, nt=5, nx=16, **changes):
    """A file in the layout of PDEBench's 1D_Advection_Sols_beta*.hdf5 (t one longer than frames)."""
    items = {"tensor": RNG.standard_normal((n, nt, nx)).astype(np.float32),
             "x-coordinate": (np.arange(nx) + 0.5) / nx, "t-coordinate": np.linspace(0, 2, nt + 1)} | changes
    with h5py.File(path, "w") as f:
        for name, value in items.items():
            if value is not None:
                f[name] = value
        f.attrs["beta"] = 0.1
    return items


def pdebench_darcy(path, n=10, size=8, nu_samples=None):
    """A file in the layout of PDEBench's 2D_DarcyFlow_beta*_Train.hdf5."""
    items = {"tensor": RNG.standard_normal((n, 1, size, size)).astype(np.float32),
             "nu": RNG.standard_normal((nu_samples or n, size, size)).astype(np.float32),
             "x-coordinate": np.linspace(0, 1, size), "y-coordinate": np.linspace(0, 1, size)}
    with h5py.File(path, "w") as f:
        for name, value in items.items():
            f[name] = value
    return items


def test_pdebench_1d_layout_and_its_split(tmp_path):
    items = pdebench_1d(tmp_path / "adv.hdf5")
    data = load_dataset(tmp_path / "adv.hdf5")
    assert data.layout == "pdebench" and data.axes["tensor"] == ("sample", "t", "x") and data.spatial == ("x",)
    np.testing.assert_array_equal(data.tensor, items["tensor"])
    np.testing.assert_array_equal(data.coordinates["t-coordinate"], items["t-coordinate"][:5])  # one per frame
    assert data.attrs == {"beta": 0.1} and data.config is None
    test, train = (load_dataset(tmp_path / "adv.hdf5", split=s) for s in ("test", "train"))
    np.testing.assert_array_equal(test.tensor, items["tensor"][:2])  # PDEBench: the first 10 % are the test set
    np.testing.assert_array_equal(train.tensor, items["tensor"][2:])
    assert "first 5 are used" in describe_file(tmp_path / "adv.hdf5")["notes"][0]


def test_pdebench_darcy_layout(tmp_path):
    items = pdebench_darcy(tmp_path / "darcy.hdf5")
    data = load_dataset(tmp_path / "darcy.hdf5", split="train", test_fraction=0.2)
    assert data.tensor.shape == (8, 1, 8, 8) and data.arrays["nu"].shape == (8, 8, 8)
    assert data.axes["nu"] == ("sample", "x", "y") and data.spatial == ("x", "y")
    assert "t-coordinate" not in data.coordinates
    np.testing.assert_array_equal(data.arrays["nu"], items["nu"][2:])


def test_pdebench_one_group_per_sample_layout(tmp_path):
    path = tmp_path / "2D_diff-react_NA_NA.h5"
    samples = RNG.standard_normal((10, 4, 6, 6, 2)).astype(np.float32)
    with h5py.File(path, "w") as f:
        for i, sample in enumerate(samples):
            g = f.create_group(f"{i:04d}")
            g["data"] = sample
            g["grid/x"], g["grid/y"], g["grid/t"] = np.linspace(-1, 1, 6), np.linspace(-1, 1, 6), np.linspace(0, 5, 4)
    data = load_dataset(path)
    assert data.layout == "pdebench-groups" and data.axes["tensor"] == ("sample", "t", "x", "y", "field")
    np.testing.assert_array_equal(data.tensor, samples)
    np.testing.assert_array_equal(load_dataset(path, split="test").tensor, samples[9:])  # groups: the last 10 %


def test_lazy_reading(tmp_path):
    items = pdebench_1d(tmp_path / "adv.hdf5")
    with load_dataset(tmp_path / "adv.hdf5", split="train", lazy=True) as data:
        assert isinstance(data.tensor, LazyArray) and data.tensor.shape == (18, 5, 16)
        np.testing.assert_array_equal(data.tensor[[5, 0, 5]], items["tensor"][[7, 2, 7]])
        np.testing.assert_array_equal(data.tensor[3, -1, ::2], items["tensor"][5, -1, ::2])
        np.testing.assert_array_equal(np.asarray(data.tensor[..., 0]), items["tensor"][2:, :, 0])


@pytest.mark.parametrize("make, match", [
    (lambda p: None, "does not exist"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.write_text("tensor,x\n1,2\n"), "is not an HDF5 file"),
    (lambda p: pdebench_1d(p, tensor=None),
     r"'tensor': is missing \(the file holds: t-coordinate \(6,\), x-coordinate"),
    (lambda p: pdebench_1d(p, tensor=np.zeros((4, 5, 16, 16))),
     r"'tensor': has rank 4 \(shape \(4, 5, 16, 16\)\) but the file has 1 spatial coordinate.*expected rank 3"),
    (lambda p: pdebench_1d(p, **{"x-coordinate": np.arange(15.0)}),
     r"'x-coordinate': has shape \(15,\) but axis 'x' of 'tensor' has 16 entries"),
    (lambda p: pdebench_1d(p, **{"t-coordinate": np.arange(9.0)}), r"expected shape \(5,\) or \(6,\)"),
    (lambda p: pdebench_1d(p, **{"x-coordinate": None}), "has no spatial coordinates"),
    (lambda p: pdebench_darcy(p, nu_samples=9), r"'nu': has 9 samples .* but 'tensor' has 10"),
])
def test_bad_files_get_clear_errors(tmp_path, make, match):
    path = tmp_path / "bad.hdf5"
    make(path)
    with pytest.raises(DataError, match=match) as err:
        load_dataset(path)
    assert str(path) in str(err.value) and isinstance(err.value, ConfigError)


def test_truncated_file(tmp_path):
    pdebench_1d(tmp_path / "full.hdf5", n=50)
    path = tmp_path / "cut.hdf5"
    shutil.copy(tmp_path / "full.hdf5", path)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(DataError, match=rf"is truncated: {size // 2} bytes on disk of the {size}"):
        load_dataset(path)


def test_unfinished_pdejax_file_says_how_to_resume(tmp_path):
    out = tmp_path / "heat.h5"

    def stop(index):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(tiny_heat(), out, progress=False, on_chunk=stop, command="pdejax data generate heat.yaml --out x")
    with pytest.raises(DataError, match=r"1 of 4 chunks written \(about 2 of 7 samples\); expected a finished file; "
                                        r"rerun `pdejax data generate heat.yaml --out x`"):
        load_dataset(out)


def test_bad_split_arguments(tmp_path):
    pdebench_1d(tmp_path / "adv.hdf5")
    with pytest.raises(ConfigError, match="split"):
        load_dataset(tmp_path / "adv.hdf5", split="val")
    with pytest.raises(ConfigError, match="test_fraction"):
        load_dataset(tmp_path / "adv.hdf5", test_fraction=1.5)
