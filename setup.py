"""Build the Cython core.

- ``PGQRS_NO_EXTENSIONS=1``: a pure-Python package, no compiler needed.
- ``PGQRS_IMPL=c``: the compiled core is required; a failed compile fails the build.
- neither: the core is built if it can be; without a working compiler the build goes on
  without it (the compiler's error stays visible) and pgqrs runs its pure-Python twin.
"""

import os

from setuptools import Extension, setup

no_extensions = os.environ.get("PGQRS_NO_EXTENSIONS", "") in ("1", "true", "yes")
required = os.environ.get("PGQRS_IMPL", "").strip().lower() == "c"
if no_extensions and required:
    raise SystemExit("PGQRS_NO_EXTENSIONS=1 and PGQRS_IMPL=c contradict each other")

ext_modules = []
if not no_extensions:
    from Cython.Build import cythonize

    ext_modules = cythonize(
        [Extension("pgqrs._core", ["pgqrs/_core.pyx"], optional=not required)],
        compiler_directives={"language_level": 3},
    )

setup(ext_modules=ext_modules)
