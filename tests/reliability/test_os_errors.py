"""Operating-system errors and unreadable input end in one line (issue 11, item 7).

Root ignores file permissions, so unusable paths are made without them: a path under a
regular file, under ``/proc``, under ``/dev/null``. A file-size limit runs in a
subprocess (``RLIMIT_FSIZE``), the one case that needs its own process.
"""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap

import pytest
import yaml

from pdejax._os_errors import EX_IOERR, describe, os_error_in
from pdejax.cli import main
from tests.conftest import REPO, tiny_config
from tests.data.conftest import tiny_heat


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("pdejax: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture
def tiny_yaml(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config()))
    return path


@pytest.mark.parametrize("run_dir", ["{file}/run", "/proc/pdejax-no-such/run", "/dev/null/run"])
def test_run_directory_that_cannot_be_created(tiny_yaml, tmp_path, capsys, run_dir):
    run_dir = run_dir.format(file=tiny_yaml)
    assert main(["train", str(tiny_yaml), "--run-dir", run_dir]) == 2
    err = _one_line_error(capsys)
    assert "cannot use" in err and run_dir.rsplit("/", 1)[0] in err
    assert tiny_yaml.read_text() == yaml.safe_dump(tiny_config())


@pytest.mark.parametrize("out", ["{file}/heat.h5", "/proc/pdejax-no-such/heat.h5", "/dev/null/heat.h5"])
def test_data_output_that_cannot_be_written(tmp_path, capsys, out):
    config = tmp_path / "heat.yaml"
    config.write_text(yaml.safe_dump(tiny_heat()))
    out = out.format(file=config)
    assert main(["data", "generate", str(config), "--out", out, "--no-progress"]) == 2
    assert out.rsplit("/", 1)[0] in _one_line_error(capsys)


@pytest.mark.parametrize("content, reason", [
    (bytes(range(256)), "not UTF-8"),
    (b"model: {name: mlp\n\xff\xfe", "not UTF-8"),
    (b"\x01\x02 model: 1", "special characters"),
    (b"model: [1,\n  objective: {", "valid YAML"),
    (b"- just\n- a list\n", "a YAML mapping"),
])
def test_config_file_that_is_not_yaml_text(tmp_path, capsys, content, reason):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    assert main(["train", str(path), "--run-dir", str(tmp_path / "run")]) == 2
    assert reason in _one_line_error(capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("override, key", [
    ("optimizer.learning_rate=[1,2]", "optimizer.learning_rate"),
    ("optimizer.learning_rate={name: cosine_decay_schedule", "override"),
    ("model.width={a:1}", "override"),
    ("train.steps=[", "override"),
])
def test_override_of_the_wrong_shape(tiny_yaml, tmp_path, capsys, override, key):
    assert main(["train", str(tiny_yaml), "--run-dir", str(tmp_path / "run"), override]) == 2
    assert key in _one_line_error(capsys)
    assert not (tmp_path / "run").exists()


def test_library_errors_wrapping_an_os_error_are_found():
    orbax = ValueError('OUT_OF_RANGE: Error writing local file "/r/c/1/x": File too large [os_error_code=\'27\']')
    hdf5 = RuntimeError("Can't write (file write failed: filename = '/d/a.h5', errno = 28, error message = 'x')")
    wrapped = RuntimeError("checkpoint failed")
    wrapped.__cause__ = OSError(errno.EIO, "Input/output error", "/r/c/2")
    assert [describe(os_error_in(e))[0] for e in (orbax, hdf5, wrapped)] == [EX_IOERR] * 3
    assert os_error_in(hdf5).filename == "/d/a.h5" and os_error_in(orbax).errno == errno.EFBIG
    assert os_error_in(ValueError("no os error here")) is None


def test_file_size_limit_during_training_is_one_line_and_exit_74(tiny_yaml, tmp_path):
    """A checkpoint write past ``ulimit -f``: EX_IOERR naming the file, no crash, no summary."""
    run_dir = tmp_path / "run"
    script = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))
        sys.argv = ["pdejax", "train", {str(tiny_yaml)!r}, "--run-dir", {str(run_dir)!r}, "--no-progress"]
        from pdejax.cli import main
        sys.exit(main())
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == EX_IOERR, proc.stderr[-2000:]
    assert last.startswith("pdejax: error: cannot write") and "File too large (EFBIG)" in last, last
    assert str(run_dir) in last and not (run_dir / "summary.json").exists()


def test_file_size_limit_in_data_generation_is_refused_before_the_file_is_made(tmp_path, monkeypatch, capsys):
    import resource

    config = tmp_path / "heat.yaml"
    config.write_text(yaml.safe_dump(tiny_heat()))
    monkeypatch.setattr(resource, "getrlimit", lambda which: (1000, 1000))
    assert main(["data", "generate", str(config), "--out", str(tmp_path / "heat.h5"), "--no-progress"]) == EX_IOERR
    assert "File too large" in _one_line_error(capsys)
    assert not any(p.name.startswith("heat.h5") for p in tmp_path.iterdir())
