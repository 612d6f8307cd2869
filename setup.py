# SPDX-License-Identifier: MIT
"""Build of the data plane extension (ext/) into fastdns._dataplane."""
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTDNS_DEBUG") == "1"

extensions = [
    Extension(
        "fastdns._dataplane",
        sources=["ext/dataplane.pyx"],
        include_dirs=["ext/includes"],
        define_macros=[("FASTDNS_DEBUG", "1" if DEBUG else "0")],
        extra_compile_args=["-O2", "-Wall", "-Wno-unused-function"],
    ),
]

setup(
    ext_modules=cythonize(
        extensions,
        include_path=["ext", "ext/includes"],
        language_level=3,
        annotate=DEBUG,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
)
