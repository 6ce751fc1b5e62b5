"""The examples in docstrings run: every ``>>>`` example of the project's modules is a test.

Modules are found when the tests are collected, so a doctest written in any module of the
project's packages is run as soon as it exists; a module without examples yields no test.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

PACKAGES = ("minigrad", "layers", "optimizers", "datasets", "experiments")


def _modules_with_examples() -> list[str]:
    names = []
    finder = doctest.DocTestFinder(exclude_empty=True)
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        found = [package_name] + [
            info.name for info in pkgutil.walk_packages(package.__path__, prefix=package_name + ".")
        ]
        for name in found:
            if name.endswith(".__main__"):  # importing it would run the command line
                continue
            module = importlib.import_module(name)
            if any(test.examples for test in finder.find(module, name)):
                names.append(name)
    return sorted(names)


MODULES = _modules_with_examples()


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    # The same printing on every NumPy the project supports (legacy repr: 1.0, not np.float64(1.0)).
    with np.printoptions(legacy="1.25"):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples in {name} failed (see above)"


def test_the_stepping_driver_has_examples() -> None:
    assert "experiments.stepping" in MODULES  # guards the discovery itself: a known module with examples
