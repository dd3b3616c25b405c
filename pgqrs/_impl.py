"""Choose the core implementation: compiled (``_core``) or pure Python (``_core_py``).

``PGQRS_IMPL=c`` or ``PGQRS_IMPL=python`` picks one strictly: a compiled core that fails to
import is an error, never a silent fallback.  Unset, the compiled core is preferred.  This module
is the only importer of either; everything else imports the core from here.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import TYPE_CHECKING

__all__ = ["IMPL_ENV", "core", "impl"]

IMPL_ENV = "PGQRS_IMPL"


def _load() -> tuple[ModuleType, str]:
    wanted = os.environ.get(IMPL_ENV, "").strip().lower()
    if wanted not in ("", "c", "python"):
        raise ImportError(f"{IMPL_ENV} must be 'c' or 'python', not {wanted!r}")
    if wanted in ("", "c"):
        try:
            from . import _core

            return _core, "c"
        except ImportError as exc:
            if wanted == "c":
                raise ImportError(
                    f"{IMPL_ENV}=c but the compiled core cannot be imported: {exc}. "
                    "Build it with `python setup.py build_ext --inplace` or reinstall pgqrs."
                ) from exc
    from . import _core_py

    return _core_py, "python"


if TYPE_CHECKING:
    # Typed by the stub (_core.pyi), which both cores match; it names the public
    # pgqrs.types.QueueMessage rather than either core's own class.
    from . import _core as core

    impl: str
else:
    core, impl = _load()
