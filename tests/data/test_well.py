"""The Well's HDF5 layout: small files written as the_well writes them, read back exactly,
compared with the same trajectories in PDEBench's layouts, trained on, and refused when malformed."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import pdejax
from pdejax.config import ConfigError
from pdejax.data import DataError, LazyArray, describe_file, load_dataset
from pdejax.data.operator_views import OperatorViews

RNG = np.random.default_rng(0)


def field(order: int, name: str, data: np.ndarray, *, sample: bool = True, time: bool = True,
          dims: list[bool] | None = None) -> dict:
    """One field of a Well file: its group ``t{order}_fields`` and the attributes the_well requires."""
    return {"order": order, "name": name, "data": data, "sample_varying": sample, "time_varying": time,
            "dim_varying": dims}


def write_well(path, fields: list[dict], *, n: int, times: np.ndarray, coords: dict[str, np.ndarray],
               bcs: dict[str, tuple[str, list[str], np.ndarray]] | None = None, scalars: dict | None = None,
               time_sample_varying: bool = False, skip: tuple[str, ...] = ()) -> None:
    """A file in The Well's layout, as the_well's ``utils/dummy_data.py`` writes one (groups
    and attributes checked by its ``scripts/check_thewell_formatting.py``)."""
    spatial = list(coords)
    with h5py.File(path, "w") as f:
        f.attrs.update(dataset_name="toy", grid_type="cartesian", n_spatial_dims=len(spatial), n_trajectories=n,
                       simulation_parameters=list(scalars or {}), **(scalars or {}))
        if "dimensions" not in skip:
            d = f.create_group("dimensions")
            d.attrs["spatial_dims"] = spatial
            for key, value in {"time": times, **coords}.items():
                d[key] = np.asarray(value, np.float32)
                d[key].attrs.update(sample_varying=key == "time" and time_sample_varying, time_varying=False)
        group = f.create_group("boundary_conditions")
        for name, (kind, axes, mask) in (bcs or {}).items():
            g = group.create_group(name)
            g.attrs.update(bc_type=kind, associated_dims=axes, associated_fields=[], sample_varying=False,
                           time_varying=False)
            g["mask"] = mask
        s = f.create_group("scalars")
        s.attrs["field_names"] = list(scalars or {})
        for key, value in (scalars or {}).items():
            s[key] = np.float32(value)
            s[key].attrs.update(sample_varying=False, time_varying=False)
        for order in range(3):
            g = f.create_group(f"t{order}_fields")
            mine = [fd for fd in fields if fd["order"] == order]
            g.attrs["field_names"] = [fd["name"] for fd in mine]
            for fd in mine:
                g[fd["name"]] = fd["data"]
                g[fd["name"]].attrs.update(dim_varying=fd["dim_varying"] or [True] * len(spatial),
                                           sample_varying=fd["sample_varying"], time_varying=fd["time_varying"])


def ends(size: int) -> np.ndarray:
    mask = np.zeros(size, bool)
    mask[[0, -1]] = True
    return mask


def toy_2d(path, n=6, nt=5, nx=8, ny=4) -> dict[str, np.ndarray]:
    """Density and pressure (t0), velocity (t1), an obstacle constant in time (t0), periodic in
    x and walls in y, as turbulent_radiative_layer_2D is laid out (smaller)."""
    items = {"density": RNG.standard_normal((n, nt, nx, ny)).astype(np.float32),
             "pressure": RNG.standard_normal((n, nt, nx, ny)).astype(np.float32),
             "velocity": RNG.standard_normal((n, nt, nx, ny, 2)).astype(np.float32),
             "obstacle": RNG.standard_normal((n, nx, ny)).astype(np.float32),
             "time": np.linspace(0.0, 1.6, nt).astype(np.float32),
             "x": ((np.arange(nx) + 0.5) / nx - 0.5).astype(np.float32), "y": np.linspace(-1, 2, ny, dtype=np.float32)}
    write_well(path, [field(0, "density", items["density"]), field(0, "pressure", items["pressure"]),
                      field(0, "obstacle", items["obstacle"], time=False), field(1, "velocity", items["velocity"])],
               n=n, times=items["time"], coords={"x": items["x"], "y": items["y"]}, scalars={"tcool": 0.1},
               bcs={"x_periodic": ("PERIODIC", ["x"], ends(nx)), "y_wall": ("WALL", ["y"], ends(ny))})
    return items


def test_2d_file_reads_back_exactly(tmp_path):
    items = toy_2d(tmp_path / "toy.hdf5")
    data = load_dataset(tmp_path / "toy.hdf5")
    assert data.layout == "well" and data.spatial == ("x", "y") and len(data) == 6
    assert data.axes == {"tensor": ("sample", "t", "x", "y", "field"), "density": ("sample", "t", "x", "y"),
                         "pressure": ("sample", "t", "x", "y"), "obstacle": ("sample", "x", "y"),
                         "velocity": ("sample", "t", "x", "y", "field")}
    assert data.fields == {"tensor": ("density", "pressure", "velocity_x", "velocity_y"),
                           "velocity": ("velocity_x", "velocity_y")}  # the_well's channel names and order
    expected = np.concatenate([items["density"][..., None], items["pressure"][..., None], items["velocity"]], -1)
    np.testing.assert_array_equal(data.tensor, expected)
    for name in ("density", "pressure", "velocity", "obstacle"):
        np.testing.assert_array_equal(data.arrays[name], items[name])
    assert np.shares_memory(data.arrays["velocity"], data.tensor)  # in memory once
    for axis in ("x", "y"):
        np.testing.assert_array_equal(data.coordinates[f"{axis}-coordinate"], items[axis])
    np.testing.assert_array_equal(data.coordinates["t-coordinate"], items["time"])
    assert data.boundaries == {"x": ("PERIODIC", "PERIODIC"), "y": ("WALL", "WALL")}
    assert data.attrs["dataset_name"] == "toy" and data.attrs["scalars"] == {"tcool": pytest.approx(0.1)}
    with load_dataset(tmp_path / "toy.hdf5", lazy=True) as lazy:  # streamed: the same rows, read on demand
        assert isinstance(lazy.tensor, LazyArray) and lazy.tensor.shape == expected.shape
        np.testing.assert_array_equal(lazy.tensor[[4, 1]], expected[[4, 1]])
        np.testing.assert_array_equal(lazy.arrays["velocity"][2:4, :, 1], items["velocity"][2:4, :, 1])
    test = load_dataset(tmp_path / "toy.hdf5", split="test", test_fraction=0.34)  # a file splits as PDEBench's
    np.testing.assert_array_equal(test.tensor, expected[:2])


def test_3d_file_with_tensor_fields(tmp_path):
    n, nt, grid = 2, 3, (4, 3, 2)
    u, v, s = (RNG.standard_normal((n, nt, *grid, *extra)).astype(np.float32) for extra in ((), (3,), (3, 3)))
    flat = RNG.standard_normal((n, nt, *grid, 9)).astype(np.float32)  # docs/data_format.md's D^2 storage
    coords = {a: np.arange(k, dtype=np.float32) for a, k in zip("xyz", grid)}
    fields = [field(0, "u", u), field(1, "v", v), field(2, "stress", s), field(2, "flat", flat)]
    write_well(tmp_path / "3d.hdf5", fields, n=n, times=np.arange(nt), coords=coords)
    data = load_dataset(tmp_path / "3d.hdf5")
    assert data.tensor.shape == (n, nt, *grid, 1 + 3 + 9 + 9) and data.spatial == ("x", "y", "z")
    assert data.fields["stress"] == ("stress_xx", "stress_xy", "stress_xz", "stress_yx", "stress_yy", "stress_yz",
                                     "stress_zx", "stress_zy", "stress_zz")
    assert data.fields["tensor"][:4] == ("u", "v_x", "v_y", "v_z")
    np.testing.assert_array_equal(data.tensor[..., 4:13], s.reshape(n, nt, *grid, 9))
    np.testing.assert_array_equal(data.arrays["flat"], flat)
    assert data.boundaries == {a: ("OPEN", "OPEN") for a in "xyz"}  # the_well: open unless a condition says
    assert "flat stores its 3x3 components flattened" in " ".join(describe_file(tmp_path / "3d.hdf5")["notes"])


def test_fields_constant_in_time_over_trajectories_or_along_an_axis(tmp_path):
    n, nt, nx, ny = 3, 4, 6, 5
    u = RNG.standard_normal((n, nt, nx, ny)).astype(np.float32)
    forcing = RNG.standard_normal((nt, nx, ny)).astype(np.float32)  # the same in every trajectory
    profile = RNG.standard_normal((n, ny)).astype(np.float32)  # constant in time and along x
    times = np.tile(np.linspace(0, 1, nt, dtype=np.float32), (n, 1))
    write_well(tmp_path / "c.hdf5", [field(0, "u", u), field(0, "forcing", forcing, sample=False),
                                     field(0, "profile", profile, time=False, dims=[False, True])],
               n=n, times=times, coords={"x": np.arange(nx), "y": np.arange(ny)}, time_sample_varying=True)
    data = load_dataset(tmp_path / "c.hdf5")
    assert data.fields["tensor"] == ("u", "forcing") and data.axes["profile"] == ("sample", "x", "y")
    np.testing.assert_array_equal(data.arrays["forcing"], np.broadcast_to(forcing, (n, nt, nx, ny)))
    np.testing.assert_array_equal(data.arrays["profile"], np.broadcast_to(profile[:, None], (n, nx, ny)))
    np.testing.assert_array_equal(data.coordinates["t-coordinate"], times[0])  # per-trajectory, all equal
    with load_dataset(tmp_path / "c.hdf5", lazy=True) as lazy:
        np.testing.assert_array_equal(lazy.tensor[[0, 2]], data.tensor[[0, 2]])
    notes = " ".join(describe_file(tmp_path / "c.hdf5")["notes"])
    assert "t0_fields/forcing does not vary between trajectories" in notes and "constant along x" in notes
    times[1] += 0.5
    write_well(tmp_path / "d.hdf5", [field(0, "u", u)], n=n, times=times, coords={"x": np.arange(nx),
               "y": np.arange(ny)}, time_sample_varying=True)
    assert "t-coordinate" not in load_dataset(tmp_path / "d.hdf5").coordinates
    assert "differs between trajectories" in " ".join(describe_file(tmp_path / "d.hdf5")["notes"])


def same_trajectories(tmp_path, n=8, nt=6, nx=8, ny=8):
    """One set of 2D trajectories in PDEBench's layout and in The Well's."""
    u = RNG.standard_normal((n, nt, nx, ny)).astype(np.float32)
    x, y, t = (np.asarray(c, np.float32) for c in (np.arange(nx) / nx, np.arange(ny) / ny, np.linspace(0, 1, nt)))
    with h5py.File(tmp_path / "pdebench.hdf5", "w") as f:
        f["tensor"], f["x-coordinate"], f["y-coordinate"], f["t-coordinate"] = u, x, y, t
    write_well(tmp_path / "well.hdf5", [field(0, "u", u)], n=n, times=t, coords={"x": x, "y": y},
               bcs={"periodic": ("PERIODIC", ["x", "y"], np.pad(np.zeros((nx - 2, ny - 2), bool), 1, "constant",
                                                                constant_values=True))})
    return tmp_path / "pdebench.hdf5", tmp_path / "well.hdf5"


def views(path, **kw) -> OperatorViews:
    spec = {"inputs": {"tensor": [0, 1]}, "outputs": {"tensor": [-1]}, "n_train": 5, "n_test": 2, "stride": {}} | kw
    return OperatorViews(load_dataset(path), **spec)


def test_same_trajectories_give_the_same_views_in_either_layout(tmp_path):
    pdebench, well = same_trajectories(tmp_path)
    a, b = views(pdebench, stride={"y": 2}), views(well, stride={"y": 2})
    assert a.grid_shape() == b.grid_shape() == (8, 4) and a.in_channels == b.in_channels == 2
    for got, want in zip(b.pairs(b.train_rows), a.pairs(a.train_rows)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(b.trajectories("tensor", b.test_rows), a.trajectories("tensor", a.test_rows))
    np.testing.assert_array_equal(b.times, a.times)
    for got, want in zip(b.coordinates(), a.coordinates()):
        np.testing.assert_array_equal(got, want)
    assert b.dataset.boundaries == {"x": ("PERIODIC", "PERIODIC"), "y": ("PERIODIC", "PERIODIC")}
    b.require_periodic("objective.physics_weight")  # periodic both ways: a spectral residual may use it
    # several fields: PDEBench's one-group-per-sample layout [T, X, Y, F] against t0 + t1 fields
    n, nt = 4, 3
    data = RNG.standard_normal((n, nt, 8, 8, 3)).astype(np.float32)
    with h5py.File(tmp_path / "groups.h5", "w") as f:
        for i in range(n):
            f[f"{i:04d}/data"] = data[i]
            f[f"{i:04d}/grid/x"], f[f"{i:04d}/grid/y"] = np.arange(8.0), np.arange(8.0)
            f[f"{i:04d}/grid/t"] = np.arange(nt, dtype=float)
    write_well(tmp_path / "fields.hdf5", [field(0, "a", data[..., 0]), field(1, "v", data[..., 1:])], n=n,
               times=np.arange(nt), coords={"x": np.arange(8), "y": np.arange(8)})
    a, b = (views(tmp_path / p, n_train=3, n_test=1) for p in ("groups.h5", "fields.hdf5"))
    np.testing.assert_array_equal(b.trajectories("tensor", b.train_rows), a.trajectories("tensor", a.train_rows))
    only_v = views(tmp_path / "fields.hdf5", inputs={"v": [0]}, outputs={"v": [1]}, n_train=3, n_test=1)
    np.testing.assert_array_equal(only_v.pairs(only_v.train_rows)[1], np.moveaxis(data[1:, 1, ..., 1:], -1, 1))


def tiny_autoregressive(path, **objective) -> dict:
    return {"name": "well_ar", "seed": 0,
            "data": {"path": str(path), "trajectory": "tensor", "n_train": 5, "n_test": 2, "batch_size": 5},
            "model": {"name": "fno", "modes": [2, 2], "width": 4, "n_layers": 1},
            "objective": {"name": "autoregressive", "history": 2, "unroll": 1, **objective},
            "optimizer": {"name": "adam", "learning_rate": 1e-3},
            "train": {"steps": 2, "steps_per_call": 2, "log_every": 2, "eval_every": 2, "checkpoint_every": 2,
                      "progress": False, "plots": False},
            "parallel": {"data": 1}}


def test_autoregressive_training_on_either_layout_is_the_same(tmp_path):
    pdebench, well = same_trajectories(tmp_path)
    runs = [pdejax.train(tiny_autoregressive(p), run_dir=tmp_path / p.stem, progress=False) for p in (pdebench, well)]
    curves = [np.asarray(r.summary["rollout_rel_l2"]["rel_l2"]) for r in runs]
    assert len(curves[0]) == 6 - 2 and np.all(np.isfinite(curves[0]))
    np.testing.assert_allclose(curves[1], curves[0], rtol=1e-6)  # identical arrays, identical run


@pytest.mark.parametrize("change, found", [
    (None, r"records boundaries .*'y': \['WALL', 'WALL'\]"),
    (lambda f: f["boundary_conditions/y_wall"].attrs.update(bc_type="PERIODIC") or f.attrs.update(
        grid_type="spherical"), "records grid_type 'spherical'"),
])
def test_physics_loss_refuses_a_well_file_that_is_not_periodic(tmp_path, change, found):
    toy_2d(tmp_path / "toy.hdf5")
    if change is not None:
        _edit(tmp_path / "toy.hdf5", change)
    cfg = tiny_autoregressive(tmp_path / "toy.hdf5", physics_weight=0.1) | {"pde": {"name": "heat", "kappa": 0.01}}
    cfg["data"] |= {"n_train": 4, "batch_size": 4}
    with pytest.raises(ConfigError, match=found) as err:
        pdejax.experiment.build(cfg)
    assert err.value.key == "objective.physics_weight" and "toy.hdf5" in str(err.value)


def _edit(path, action) -> None:
    with h5py.File(path, "r+") as f:
        action(f)


def _reshape_velocity(f):
    del f["t1_fields/velocity"]
    f["t1_fields/velocity"] = np.zeros((6, 5, 8, 4, 3), np.float32)
    f["t1_fields/velocity"].attrs.update(dim_varying=[True, True], sample_varying=True, time_varying=True)


@pytest.mark.parametrize("break_it, dataset, problem", [
    (lambda f: f.__delitem__("dimensions"), "dimensions", "has no group 'dimensions'"),
    (_reshape_velocity, "t1_fields/velocity", r"has shape \(6, 5, 8, 4, 3\), but its attributes .* give "
     r"\(6, 5, 8, 4, 2\)"),
    (lambda f: f["t0_fields/density"].attrs.__setitem__("time_varying", False), "t0_fields/density",
     r"has shape \(6, 5, 8, 4\), but"),
    (lambda f: f.attrs.__setitem__("n_trajectories", 7), "t0_fields/density", "with 7 trajectories"),
    (lambda f: f["t0_fields/density"].attrs.__delitem__("sample_varying"), "t0_fields/density",
     "has no 'sample_varying' attribute"),
    (lambda f: f["t0_fields"].attrs.__setitem__("field_names", ["density", "energy"]), "t0_fields/energy",
     "is missing"),
    (lambda f: f.move("t0_fields/pressure", "t0_fields/tensor") or f["t0_fields"].attrs.__setitem__(
        "field_names", ["density", "tensor", "obstacle"]), "t0_fields/tensor", "a field named 'tensor'"),
    (lambda f: f["dimensions"].attrs.__setitem__("spatial_dims", ["x"]), "dimensions", "n_spatial_dims is 2"),
    (lambda f: f["boundary_conditions/y_wall"].attrs.__setitem__("bc_type", "ROBIN"),
     "boundary_conditions/y_wall", "bc_type 'ROBIN'"),
    (lambda f: [f[g].attrs.__setitem__("time_varying", False) for g in ("t0_fields/density", "t0_fields/pressure",
                                                                          "t1_fields/velocity")],
     "t0_fields/density", "has shape"),
])
def test_malformed_well_files_name_the_file_and_the_problem(tmp_path, break_it, dataset, problem):
    path = tmp_path / "bad.hdf5"
    toy_2d(path)
    _edit(path, break_it)
    with pytest.raises(DataError, match=problem) as err:
        load_dataset(path)
    assert err.value.dataset == dataset and str(path) in str(err.value)
    with pytest.raises(DataError, match=problem):
        describe_file(path)


def test_a_file_without_time_varying_fields_is_refused(tmp_path):
    write_well(tmp_path / "steady.hdf5", [field(0, "k", np.zeros((2, 4, 4), np.float32), time=False)], n=2,
               times=np.arange(3), coords={"x": np.arange(4), "y": np.arange(4)})
    with pytest.raises(DataError, match="has no time-varying field"):
        load_dataset(tmp_path / "steady.hdf5")


def test_describe_file_reports_the_well_layout(tmp_path):
    toy_2d(tmp_path / "toy.hdf5")
    info = json.loads(json.dumps(describe_file(tmp_path / "toy.hdf5")))  # JSON-able, as `pdejax data info` prints it
    assert info["layout"] == "well" and info["n_samples"] == 6
    assert info["arrays"]["tensor"] == {"shape": [6, 5, 8, 4, 4], "dtype": "float32",
                                        "axes": ["sample", "t", "x", "y", "field"]}
    assert info["fields"]["tensor"] == ["density", "pressure", "velocity_x", "velocity_y"]
    assert info["boundaries"] == {"x": ["PERIODIC", "PERIODIC"], "y": ["WALL", "WALL"]}
    assert info["coordinates"]["t-coordinate"]["size"] == 5 and info["attrs"]["simulation_parameters"] == ["tcool"]


def test_symmetry_augmentation_refuses_a_well_file_with_walls(tmp_path):
    """Spectral shifts and boosts assume a periodic grid: a 1D Well file with walls is refused."""
    nx, nt = 16, 6
    u = RNG.standard_normal((6, nt, nx)).astype(np.float32)
    write_well(tmp_path / "walls.hdf5", [field(0, "u", u)], n=6, times=np.linspace(0, 1, nt).astype(np.float32),
               coords={"x": np.arange(nx, dtype=np.float32) / nx}, bcs={"x_wall": ("WALL", ["x"], ends(nx))})
    cfg = tiny_autoregressive(tmp_path / "walls.hdf5", augment={"space_shift": 1.0, "pde": "kuramoto_sivashinsky"})
    cfg["model"] = {"name": "fno", "modes": [2], "width": 4, "n_layers": 1}
    cfg["data"] |= {"n_train": 4, "batch_size": 4}
    with pytest.raises(ConfigError, match=r"records boundaries .*'x': \['WALL', 'WALL'\]") as err:
        pdejax.experiment.build(cfg)
    assert err.value.key == "objective.augment" and "walls.hdf5" in str(err.value)
