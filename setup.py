"""Build the Cython core. Everything else about the package lives in pyproject.toml."""

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        f"sweepnet.core.{name}",
        [f"sweepnet/core/{name}.pyx"],
        depends=["sweepnet/core/_kernels.pxd"],  # rebuilt when it changes, and shipped in the sdist
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"],
    )
    for name in ("_fastconv", "_winograd")
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )
)
