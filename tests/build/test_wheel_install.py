"""Installed from a wheel, rerankrt finds its shipped configs and calibration set (issue 12: `load_config("h100")`
once looked for ``site-packages/configs/h100.yaml``, outside the package).

The wheel is built from a copy of the sources (the checkout gets no build/ or egg-info), installed with --no-deps into
a folder of its own, and imported from there: that folder comes first on sys.path, the dev venv's site-packages
(for pyyaml and numpy) after it, and the working directory is neither the repo nor the copy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CHECK = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import rerankrt
    from rerankrt._device import GPUS
    from rerankrt.build.config import load_config
    from rerankrt.calibration.dataset import SHIPPED_PATH, dataset_sha256, load_pairs

    site = Path(sys.argv[1]).resolve()
    assert site in Path(rerankrt.__file__).resolve().parents, rerankrt.__file__
    configs = {gpu: load_config(gpu) for gpu in GPUS}
    print(json.dumps({
        "rerankrt": rerankrt.__file__,
        "configs": {gpu: [c.source, c.precision] for gpu, c in configs.items()},
        "pairs": len(load_pairs()),
        "calibration_sha256": dataset_sha256(),
        "shipped": str(SHIPPED_PATH),
    }))
    """
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """rerankrt's wheel, installed with --no-deps into a fresh folder; returns that folder."""
    if shutil.which("pip", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("no pip beside this interpreter to build and install the wheel")
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "rerankrt", src / "rerankrt", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    # No build isolation: the dev environment's setuptools builds it, so the test needs no index.
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root / "dist"), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (root / "dist").glob("rerankrt-*.whl")
    site = root / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return site


def test_wheel_ships_every_config_and_the_calibration_set(installed, tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", CHECK, str(installed)],
        cwd=tmp_path,  # not the repository: its checkout must not be importable as `rerankrt`
        env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    site = installed.resolve()
    assert set(result["configs"]) == {"h100", "l4", "a100", "cpu"}
    for gpu, (source, _precision) in result["configs"].items():
        assert Path(source).resolve().is_relative_to(site / "rerankrt" / "configs"), (gpu, source)
    assert Path(result["shipped"]).resolve().is_relative_to(site)
    from rerankrt.calibration.dataset import dataset_sha256, load_pairs

    assert result["calibration_sha256"] == dataset_sha256() and result["pairs"] == len(load_pairs())


def test_wheel_keeps_the_build_stage_package(installed):
    """rerankrt/build/ is package source, not build output: the wheel carries it (the repo's .gitignore anchors
    /build/ at the root, so only a top-level build folder is ignored)."""
    assert (installed / "rerankrt" / "build" / "pipeline.py").is_file()
    assert (installed / "rerankrt" / "build" / "stages.py").is_file()


def test_wheel_leaves_the_repository_tools_out(installed):
    assert not list(installed.rglob("make_pairs.py")) and not (installed / "tools").exists()
    assert not (installed / "configs").exists()  # the configs live inside the package, not beside it
