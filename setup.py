"""Build the optional Cython core.

``PGQRS_NO_EXTENSIONS=1`` builds a pure-Python package.  Without a compiler the extension is
skipped (``optional=True``) and the pure-Python twin is used; ``PGQRS_IMPL=c`` makes that loud.
"""

import os

from setuptools import Extension, setup

ext_modules = []
if os.environ.get("PGQRS_NO_EXTENSIONS", "") not in ("1", "true", "yes"):
    from Cython.Build import cythonize

    ext_modules = cythonize(
        [Extension("pgqrs._core", ["pgqrs/_core.pyx"], optional=True)],
        compiler_directives={"language_level": 3},
    )

setup(ext_modules=ext_modules)
