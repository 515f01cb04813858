"""What a non-editable install (`pip install .`) carries: the package list in pyproject.toml.

A package left out of it works in the checkout and fails only once installed, when Django
imports INSTALLED_APPS. Matched here as setuptools' `packages.find` does: each dotted package
name against the `include` patterns with fnmatch.
"""

import tomllib
from fnmatch import fnmatchcase
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
# Never shipped: the suite and the benchmarks.
NOT_SHIPPED = {"tests", "bench"}


def _include_patterns() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        pyproject = tomllib.load(f)
    return pyproject["tool"]["setuptools"]["packages"]["find"]["include"]


def _packages_in_tree() -> list[str]:
    """Every package in the checkout, dotted, as setuptools finds them: folders with __init__.py."""
    return sorted(
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in ROOT.glob("*/**/__init__.py")
        if not init.relative_to(ROOT).parts[0].startswith(".")
    )


def _packaged(name: str) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in _include_patterns())


def _local_apps() -> list[str]:
    """INSTALLED_APPS entries whose code lives in this repository, as top-level package names."""
    tops = {app.split(".")[0] for app in settings.INSTALLED_APPS}
    return sorted(top for top in tops if (ROOT / top / "__init__.py").exists())


def test_every_local_app_in_installed_apps_is_packaged_with_its_subpackages():
    apps = _local_apps()
    assert {"agora", "iwy", "sessions"} <= set(apps)  # the check reads the real settings

    left_out = [
        package
        for package in _packages_in_tree()
        if package.split(".")[0] in apps and not _packaged(package)
    ]

    assert left_out == []


def test_every_top_level_package_but_the_suite_and_benchmarks_is_packaged():
    # What the apps import (config, parley) ships too, and a new app is caught even before
    # it reaches INSTALLED_APPS.
    tops = {package.split(".")[0] for package in _packages_in_tree()}

    assert sorted(top for top in tops - NOT_SHIPPED if not _packaged(top)) == []
    assert sorted(top for top in NOT_SHIPPED & tops if _packaged(top)) == []
