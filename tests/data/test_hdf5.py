"""Dataset generation and the HDF5 writer: round trip, chunk independence, resume, refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import equinox as eqx
import h5py
import numpy as np
import pytest

from pdejax.config import ConfigError
from pdejax.data import DataError, build_generator, describe_file, generate, load_data_config, load_dataset, sample_key
from tests.conftest import REPO
from tests.data.conftest import HEAT_YAML, read_all, tiny_heat


def test_example_config_validates(tmp_path):
    path = tmp_path / "heat.yaml"
    path.write_text(HEAT_YAML)
    config = load_data_config(path, ["n_samples=8"])
    assert (config.name, config.n_samples, config.n_chunks, config.generator.args["n_points"]) == ("heat", 8, 1, 128)


def test_round_trip_equals_the_generator_whatever_the_chunk_size(reference, tmp_path):
    path, config = reference
    data = load_dataset(path)
    assert data.layout == "pdejax" and data.tensor.shape == (7, 3, 32) and data.tensor.dtype == np.float32
    assert data.axes["tensor"] == ("sample", "t", "x")
    np.testing.assert_allclose(data.coordinates["t-coordinate"], [0.0, 0.05, 0.1])
    np.testing.assert_allclose(data.coordinates["x-coordinate"], np.arange(32) / 32)
    assert data.attrs["complete"] is True and data.attrs["pde"] == "heat" and data.attrs["kappa"] == 0.01
    assert data.attrs["seed"] == 3 and data.attrs["dt"] == 0.01 and data.attrs["solver"].startswith("etdrk4")
    assert data.config["generator"]["n_modes"] == 4  # defaults are recorded too

    generator = build_generator(load_data_config(config))
    for i in (0, 5):  # sample i is the generator's sample for fold_in(key(seed), i)
        direct = eqx.filter_jit(lambda k: generator.sample(k))(sample_key(3, i))["tensor"]
        np.testing.assert_allclose(data.tensor[i], np.asarray(direct), rtol=0, atol=1e-6)
    assert np.abs(data.tensor).max() > 0.1  # not an empty file

    other = generate(tiny_heat(chunk_size=3), tmp_path / "c3.h5", progress=False)
    assert other.computed == [0, 1, 2]
    np.testing.assert_array_equal(load_dataset(tmp_path / "c3.h5").tensor, data.tensor)


def test_interrupted_generation_resumes_without_recomputing(reference, tmp_path):
    out = tmp_path / "heat.h5"

    def stop_after_chunk_1(index):
        if index == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(tiny_heat(), out, progress=False, on_chunk=stop_after_chunk_1)
    info = describe_file(out)
    assert (info["complete"], info["chunks_written"], info["n_chunks"]) == (False, 2, 4)
    with pytest.raises(DataError, match="unfinished pdejax dataset: 2 of 4 chunks"):
        load_dataset(out)

    seen = []
    report = generate(tiny_heat(name="renamed"), out, progress=False, on_chunk=seen.append)
    assert report.computed == seen == [2, 3] and report.resumed
    assert_same_file_data(out, reference[0])
    assert generate(tiny_heat(), out, progress=False).computed == []  # finished: nothing to do


def _run_and_kill(tmp_path, config, out, patch: str) -> None:
    """Run ``generate`` in a subprocess that SIGKILLs itself where ``patch`` says."""
    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent("""
        import json, os, signal, sys
        from pdejax.data import generate, hdf5
        kill = lambda: os.kill(os.getpid(), signal.SIGKILL)
    """) + textwrap.dedent(patch) + "\ngenerate(json.loads(sys.argv[1]), sys.argv[2], progress=False)\n")
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "1"}
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run([sys.executable, str(script), json.dumps(config), str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr


def test_kill_9_in_the_middle_of_a_chunk_loses_only_that_chunk(reference, tmp_path):
    out = tmp_path / "heat.h5"
    # Chunk 2's rows are written (not flushed, mask not set) when the process dies.
    _run_and_kill(tmp_path, tiny_heat(), out, """
        def write_chunk(self, index, arrays, original=hdf5.DatasetWriter.write_chunk):
            if index == 2:
                rows = self.config.chunk(index)
                self.file["tensor"][rows.start:rows.stop] = arrays["tensor"] + 1.0
                kill()
            original(self, index, arrays)
        hdf5.DatasetWriter.write_chunk = write_chunk
    """)
    assert describe_file(out)["chunks_written"] == 2
    assert generate(tiny_heat(), out, progress=False).computed == [2, 3]
    assert_same_file_data(out, reference[0])


def test_kill_9_while_creating_leaves_no_file_at_the_final_path(reference, tmp_path):
    out = tmp_path / "heat.h5"
    _run_and_kill(tmp_path, tiny_heat(), out, """
        hdf5.os.replace = lambda src, dst: kill()
    """)
    assert not out.exists() and (tmp_path / "heat.h5.creating").exists()
    assert generate(tiny_heat(), out, progress=False).computed == [0, 1, 2, 3]
    assert not (tmp_path / "heat.h5.creating").exists()
    assert_same_file_data(out, reference[0])


def test_resume_with_another_config_is_refused(tmp_path):
    out = tmp_path / "heat.h5"
    with pytest.raises(KeyboardInterrupt):
        generate(tiny_heat(), out, progress=False, on_chunk=lambda i: (_ for _ in ()).throw(KeyboardInterrupt))
    before = read_all(out)
    with pytest.raises(DataError, match=r"different config \(generator.kappa: 0.01 in the file, 0.02 now; "
                                        r"seed: 3 in the file, 4 now\)"):
        generate(tiny_heat(seed=4, generator={"kappa": 0.02}), out, progress=False)
    after = read_all(out)
    assert all(np.array_equal(before[k], after[k]) for k in before)  # untouched


def test_an_existing_foreign_file_is_refused_unless_overwritten(reference, tmp_path):
    out = tmp_path / "notes.h5"
    out.write_text("my notes")
    with pytest.raises(DataError, match="not a readable HDF5 file.*--overwrite"):
        generate(tiny_heat(), out, progress=False)
    with h5py.File(out, "w") as f:
        f["tensor"] = np.zeros((7, 3, 32))
    with pytest.raises(DataError, match="not written by `pdejax data generate`"):
        generate(tiny_heat(), out, progress=False)
    generate(tiny_heat(), out, progress=False, overwrite=True)
    assert_same_file_data(out, reference[0])


def test_store_stride_float64_storage_and_gzip(reference, tmp_path):
    out = tmp_path / "coarse.h5"
    generate(tiny_heat(store_stride={"x": 4, "t": 2}, dtype="float64", compression="gzip"), out, progress=False)
    full, coarse = load_dataset(reference[0]), load_dataset(out)
    assert coarse.tensor.shape == (7, 2, 8) and coarse.tensor.dtype == np.float64
    np.testing.assert_array_equal(coarse.tensor, full.tensor[:, ::2, ::4].astype(np.float64))
    np.testing.assert_array_equal(coarse.coordinates["x-coordinate"], full.coordinates["x-coordinate"][::4])
    np.testing.assert_array_equal(coarse.coordinates["t-coordinate"], [0.0, 0.1])
    with h5py.File(out, "r") as f:
        assert f["tensor"].compression == "gzip" and f.attrs["complete"]
    assert not (tmp_path / "coarse.h5.compressing").exists()


@pytest.mark.parametrize("changes, key", [
    ({"n_samples": 0}, "n_samples"),
    ({"generator": {"name": "heet"}}, "generator.name"),
    ({"generator": {"dt": 0.03}}, "generator.dt"),
    ({"generator": {"save_every": 3}}, "generator.save_every"),
    ({"generator": {"n_point": 64}}, "generator.n_point"),
    ({"store_stride": {"q": 2}}, "store_stride.q"),
    ({"dtype": "float16"}, "dtype"),
    ({"chunks": 4}, "chunks"),
])
def test_bad_config_keys_are_named_before_anything_is_written(tmp_path, changes, key):
    with pytest.raises(ConfigError) as err:
        generate(tiny_heat(**changes), tmp_path / "x.h5", progress=False)
    assert err.value.key == key and key in str(err.value)
    assert not (tmp_path / "x.h5").exists()


def test_advection_dataset_is_the_shifted_initial_condition(tmp_path):
    cfg = {"n_samples": 3, "chunk_size": 3,
           "generator": {"name": "advection", "n_points": 32, "velocity": 1.0, "t_final": 0.25, "dt": 0.05,
                         "save_every": 5}}
    generate(cfg, tmp_path / "adv.h5", progress=False)
    u = load_dataset(tmp_path / "adv.h5").tensor  # (3, 2, 32); c·t = 0.25 = 8 grid points
    np.testing.assert_allclose(u[:, 1], np.roll(u[:, 0], 8, axis=-1), atol=2e-5)


def assert_same_file_data(path, reference_path) -> None:
    a, b = read_all(path), read_all(reference_path)
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
