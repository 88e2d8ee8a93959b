"""Boolean options take True or False only (:mod:`lensnb.flags`), across the public API."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import numpy as np
import pytest

from lensnb import LensError
from lensnb.flags import check_flag, checks_flags


@checks_flags
def _example(data, positional: bool = False, *, keyword: bool = True, other: int = 0) -> tuple:
    return positional, keyword, other


def test_check_flag_takes_python_and_numpy_bools_only():
    assert check_flag("x", True) is True and check_flag("x", np.bool_(False)) is False
    for value in ("no", "False", 0, 1, None, 1.0, [True]):
        with pytest.raises(LensError, match=r"^x: expected True or False"):
            check_flag("x", value)


def test_the_decorator_checks_given_flags_by_position_and_by_name():
    assert _example(1) == (False, True, 0)
    assert _example(1, True, keyword=np.bool_(False)) == (True, False, 0)
    with pytest.raises(LensError, match=r"^positional: expected True or False, received 'no'"):
        _example(1, "no")
    with pytest.raises(LensError, match=r"^keyword: expected True or False, received 0"):
        _example(1, keyword=0)
    assert _example(1, other=5) == (False, True, 5)  # other parameters untouched
    assert inspect.signature(_example).parameters["keyword"].default is True  # the signature is kept
    with pytest.raises(TypeError, match="no parameter annotated bool"):
        checks_flags(lambda x: x)


def _public_functions():
    """The user-facing API: what lensnb and its subpackages export (functions, and the public
    methods of exported classes) and each paper module's ``reproduce``, with their bool flags."""
    exported = []
    for package in ("lensnb", "lensnb.geometry", "lensnb.probing", "lensnb.relevance", "lensnb.data"):
        module = importlib.import_module(package)
        exported += [getattr(module, name) for name in module.__all__]
    papers = importlib.import_module("lensnb.papers")
    for info in pkgutil.iter_modules(papers.__path__, "lensnb.papers."):
        exported.append(getattr(importlib.import_module(info.name), "reproduce", None))
    seen = []
    for member in exported:
        candidates = [member] if inspect.isfunction(member) else []
        if inspect.isclass(member):
            candidates = [m for n, m in vars(member).items() if inspect.isfunction(m) and not n.startswith("_")]
        for function in candidates:
            flags = [p.name for p in inspect.signature(function).parameters.values() if p.annotation in ("bool", bool)]
            if flags:
                seen.append((f"{function.__module__}.{function.__qualname__}", function, flags))
    return seen


PUBLIC = _public_functions()


def test_every_public_function_with_a_flag_refuses_a_string_for_it():
    """A public function either carries @checks_flags or checks its flags itself; the source tells."""
    unchecked = []
    for qualified, function, flags in PUBLIC:
        if hasattr(function, "__wrapped__"):  # @checks_flags
            continue
        source = inspect.getsource(function)
        missing = [f for f in flags if f'check_flag("{f}"' not in source and f"{f}=check_flag" not in source]
        if missing and "_flags(" not in source:  # layer_metrics' _flags(name=value, ...) helper
            unchecked.append(f"{qualified}: {missing}")
    assert len(PUBLIC) > 30
    assert not unchecked, "\n".join(unchecked)
