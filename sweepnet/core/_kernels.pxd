# cython: language_level=3
"""Declarations the Cython kernels share (``cimport``-ed by _fastconv.pyx and _winograd.pyx)."""

cdef extern from *:
    # Pointers that promise not to overlap any other (C99 restrict, in Cython's portable
    # spelling): without that promise gcc vectorises a loop over several arrays only after
    # checking every pair for overlap at run time, which costs more than copying a row of a few
    # dozen values, and gives up beyond ten pairs.
    ctypedef float* float_ptr "float * CYTHON_RESTRICT"
    ctypedef double* double_ptr "double * CYTHON_RESTRICT"

# Kernels on restrict pointers are written once for both dtypes: a restrict pointer type cannot be
# derived from the ``floating`` of the memoryviews, so the callers cast to one of these.
ctypedef fused real_ptr:
    float_ptr
    double_ptr


cdef inline int check_rows(Py_ssize_t stride, Py_ssize_t itemsize, Py_ssize_t width, str name) except -1:
    """The kernels walk rows with a pointer: the last axis must be contiguous."""
    if width > 1 and stride != itemsize:
        raise ValueError(f"{name} must have a contiguous last axis")
    return 0
