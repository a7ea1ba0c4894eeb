"""Import ``package.module:attribute`` references given on the command line."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
from pathlib import Path
from typing import Any

from fine_pytest.core.errors import FineError


def add_search_paths(*paths: str | os.PathLike[str]) -> None:
    """Let a py: module sit beside the project (the current directory, rootdir, ini file) without installing it."""
    for path in paths:
        if str(path) not in sys.path:
            sys.path.append(str(path))


def _split(reference: str, option: str) -> tuple[str, str]:
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise FineError(f"{option}: expected 'py:package.module:function', got 'py:{reference}'")
    return module_name, attribute


def check_reference(reference: str, option: str) -> None:
    """Check a reference's shape and that its module can be found, without running the module's code."""
    module_name, _ = _split(reference, option)
    add_search_paths(os.getcwd())
    try:
        # Finding a submodule imports its package, whose __init__ is user code.
        found = call_user_code(importlib.util.find_spec, f"py:{reference}", option, module_name)
    except (ImportError, ValueError) as error:
        raise FineError(f"{option}: cannot import module '{module_name}': {error}") from None
    except FineError:
        raise
    except Exception as error:  # the package's __init__ failed; say where, without our frames
        raise FineError(f"{option}: importing '{module_name}' raised {type(error).__name__}: {error}") from None
    if found is None:
        raise FineError(f"{option}: cannot import module '{module_name}': no module named '{module_name}'")


def import_reference(reference: str, option: str, callable_only: bool = True) -> Any:
    """Return the attribute named by ``module:attribute``; errors name the option that carried the reference.
    ``callable_only``: anything else is an error (a model or judge is a function; a form family is data)."""
    module_name, attribute = _split(reference, option)
    add_search_paths(os.getcwd())
    try:
        module = call_user_code(importlib.import_module, f"py:{reference}", option, module_name)
    except FineError:
        raise
    except ImportError as error:
        raise FineError(f"{option}: cannot import module '{module_name}': {error}") from None
    except Exception as error:  # the user's module failed while importing; say where, without our frames
        raise FineError(f"{option}: importing '{module_name}' raised {type(error).__name__}: {error}") from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise FineError(f"{option}: module '{module_name}' has no attribute '{attribute}'") from None
    if callable_only and not callable(target):
        raise FineError(f"{option}: '{reference}' is not callable")
    return target


def reference_identity(reference: str, option: str) -> dict[str, Any]:
    """What a cached answer of user code depends on: the reference and its module's source.

    Only the module that defines the callable is hashed. A callable whose answers depend on anything else (other
    modules, a remote service, a file) says so with a ``fine_identity`` attribute, any JSON value that changes
    when its answers would.
    """
    import json

    from fine_pytest.core.fingerprint import source_digest

    target = import_reference(reference, option)
    module = sys.modules.get(getattr(target, "__module__", "") or "")
    declared = getattr(target, "fine_identity", None)
    try:
        json.dumps(declared, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise FineError(f"{option}: 'py:{reference}' has a fine_identity that is not JSON data ({error})") from None
    return {"reference": reference, "source": source_digest(getattr(module, "__file__", None)), "declared": declared}


class _ExitRefused(BaseException):
    """Raised in place of os._exit inside user code; a BaseException so that ``except Exception`` lets it pass."""

    def __init__(self, status: object) -> None:
        super().__init__(status)
        self.status = status


def call_user_code(function: Any, name: str, option: str, *args: Any, **kwargs: Any) -> Any:
    """Call a py: model or judge so that an attempt to end the process becomes one clear error, not a run that
    ends with status 0 and no output (``os._exit``) or pages of pytest internals (``SystemExit``).

    ``os._exit`` is replaced while the call runs, but refuses only in the calling thread of this process: a watchdog
    thread or a forked child still exits. An import is a call too (module code runs at import).
    """
    real_exit = os._exit
    owner = os.getpid()
    caller = threading.get_ident()

    def refuse_exit(status: int) -> None:
        # Another thread (a watchdog) or a forked child may end what it owns; only the call itself is refused.
        if os.getpid() != owner or threading.get_ident() != caller:
            real_exit(status)
        raise _ExitRefused(status)

    os._exit = refuse_exit  # type: ignore[assignment]
    try:
        return function(*args, **kwargs)
    except _ExitRefused as refused:
        raise FineError(
            f"{option}: {name} called os._exit({refused.status!r}) while running, which would end the whole run "
            "with no result; a model or judge must return its answers or raise an exception"
        ) from None
    except SystemExit as stop:
        if os.getpid() != owner:
            raise  # a forked child's exit is its own
        raise FineError(
            f"{option}: {name} raised SystemExit({stop.code!r}) (sys.exit or exit) while running, which would end "
            "the whole run with no result; a model or judge must return its answers or raise an exception"
        ) from None
    finally:
        os._exit = real_exit


def user_traceback(error: BaseException) -> str:
    """The error with the frames of the user's code only (a py: model or judge), not fine_pytest's."""
    import traceback

    here = str(Path(__file__).parents[1])  # every frame of fine_pytest, not only of backends/
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if not frame.filename.startswith(here)]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(error), error)
    return "".join(lines).rstrip()
