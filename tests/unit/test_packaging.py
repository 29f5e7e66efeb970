"""Rayline installed as its wheel lays it out, away from the checkout: the shipped training
configs, the built UI and the state migrations come from the installed packages, the product
imports, and the harnesses (bench/, tests/) are not shipped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

from rayline.settings import PROJECT_ROOT

# What pyproject.toml builds the wheel from.
SOURCES = ("pyproject.toml", "README.md", "rayline", "jobs", "serve_app", "configs", "web")
PRODUCT = ("rayline", "jobs", "serve_app")


@dataclass(frozen=True)
class Installed:
    source: Path
    """The copy of the checkout it was built from."""
    target: Path
    """The folder its packages were installed into, a site-packages of its own."""


def install(source: Path, target: Path) -> Installed:
    """Build `source` into `target` as the wheel holds it: setuptools' build_py lays out the
    packages and package data of a pure-Python project from pyproject.toml. (Offline, `pip
    install --target` needs `wheel` or setuptools >= 70.1, which a fresh venv lacks.)"""
    setup = "from setuptools import setup; setup()"
    result = subprocess.run(
        [sys.executable, "-c", setup, "--quiet", "build_py", "--build-lib", str(target)],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return Installed(source, target)


def copy_checkout(destination: Path) -> Path:
    # A copy, so the build writes its egg-info into a temporary folder, not the checkout.
    ignore = shutil.ignore_patterns("__pycache__", "node_modules", "*.egg-info")
    for name in SOURCES:
        path = PROJECT_ROOT / name
        if path.is_dir():
            shutil.copytree(path, destination / name, ignore=ignore)
        else:
            shutil.copy2(path, destination / name)
    return destination


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Installed with a built UI: `make web`'s web/dist if there is one, else a stand-in."""
    source = copy_checkout(tmp_path_factory.mktemp("checkout"))
    dist = source / "web" / "dist"
    if not (dist / "index.html").is_file():
        (dist / "assets").mkdir(parents=True, exist_ok=True)
        (dist / "index.html").write_text("<!doctype html><title>Rayline</title>\n")
        (dist / "assets" / "index.js").write_text("export {};\n")
    return install(source, tmp_path_factory.mktemp("site-packages"))


@pytest.fixture(scope="module")
def installed_without_ui(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    source = copy_checkout(tmp_path_factory.mktemp("checkout-without-ui"))
    shutil.rmtree(source / "web" / "dist", ignore_errors=True)
    return install(source, tmp_path_factory.mktemp("site-packages-without-ui"))


def run_installed(installed: Installed, code: str, cwd: Path) -> dict[str, object]:
    """Run `code` against the installed packages (dependencies from this venv) in `cwd`, an
    empty folder, and return the JSON it prints last.

    `-S` skips the venv's .pth files: the checkout's editable install is one of them."""
    paths = sysconfig.get_paths()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAYLINE_")}
    env["PYTHONPATH"] = os.pathsep.join(
        dict.fromkeys([str(installed.target), paths["purelib"], paths["platlib"]])
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    answer: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return answer


def inside(path: object, folder: Path) -> bool:
    return Path(str(path)).resolve().is_relative_to(folder.resolve())


def test_shipped_configs_are_found_in_the_installed_package(
    installed: Installed, tmp_path: Path
) -> None:
    answer = run_installed(
        installed,
        """
import json
from rayline.config import CONFIG_DIR, load_config
print(json.dumps({
    "dir": str(CONFIG_DIR),
    "names": sorted(path.stem for path in CONFIG_DIR.glob("*.yaml")),
    "iris": load_config("iris").dataset.source,
}))
""",
        tmp_path,
    )
    assert inside(answer["dir"], installed.target)
    checkout = installed.source / "configs" / "train"
    assert answer["names"] == sorted(path.stem for path in checkout.glob("*.yaml"))
    assert answer["iris"] == "iris"


def test_the_product_imports_and_the_harnesses_are_not_shipped(
    installed: Installed, tmp_path: Path
) -> None:
    answer = run_installed(
        installed,
        """
import importlib.util, json
import jobs.batch_predict, jobs.train, rayline.stack, serve_app.app
print(json.dumps({
    "files": [m.__file__ for m in (jobs.batch_predict, jobs.train, rayline.stack, serve_app.app)],
    "harnesses": [name for name in ("bench", "tests") if importlib.util.find_spec(name)],
}))
""",
        tmp_path,
    )
    files = answer["files"]
    assert isinstance(files, list) and len(files) == 4
    assert all(inside(path, installed.target) for path in files), files
    assert answer["harnesses"] == []


def test_every_product_file_is_shipped(installed: Installed) -> None:
    # pyproject.toml lists its packages: a new one must be added there.
    for package in PRODUCT:
        tree = installed.source / package
        files = {p.relative_to(tree) for p in tree.rglob("*") if p.is_file()}
        missing = {p for p in files if not (installed.target / package / p).is_file()}
        assert not missing, f"{package}: {sorted(map(str, missing))} not in the wheel"


def test_state_migrations_run_from_the_installed_package(
    installed: Installed, tmp_path: Path
) -> None:
    answer = run_installed(
        installed,
        """
import json
from sqlalchemy import inspect
from rayline.state import StateStore, migrations
from rayline.state.models import Base
store = StateStore("sqlite:///state.db")
print(json.dumps({
    "migrations": migrations.__file__,
    "missing": sorted(set(Base.metadata.tables) - set(inspect(store.engine).get_table_names())),
}))
""",
        tmp_path,
    )
    assert inside(answer["migrations"], installed.target)
    assert answer["missing"] == []


WEB_DIST = """
import json
from rayline.settings import Settings
dist = Settings().web_dist
print(json.dumps({"dist": str(dist), "index": (dist / "index.html").is_file()}))
"""


def test_the_built_ui_ships_in_the_installed_package(installed: Installed, tmp_path: Path) -> None:
    answer = run_installed(installed, WEB_DIST, tmp_path)
    assert answer["index"] is True
    assert inside(answer["dist"], installed.target)


def test_an_install_without_a_built_ui_has_no_ui_folder(
    installed_without_ui: Installed, tmp_path: Path
) -> None:
    # The ingress then answers `/` with how to build the UI (tests/unit/routes/test_predict.py).
    answer = run_installed(installed_without_ui, WEB_DIST, tmp_path)
    assert answer["index"] is False
    assert not Path(str(answer["dist"])).exists()
