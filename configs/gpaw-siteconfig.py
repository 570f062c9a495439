# GPAW build configuration used by `make install` (GPAW_CONFIG points here).
#
# Why: since 26.x GPAW compiles its C sources as C++ (they include <algorithm>), but without a siteconfig
# setuptools hands them to the default C compiler, `gcc`, which treats *.c as C and stops with
# "c/bmgs/zero.c: fatal error: algorithm: No such file or directory". Naming the C++ driver fixes that.
# Serial build: alal runs many independent single-core GPAW jobs (validation/dft/engine.py) and never MPI.
compiler = 'g++'
mpi = False
# GPAW links BLAS itself only when no siteconfig is read; keep its default (OpenBLAS from libopenblas-dev).
libraries += ['blas']  # noqa: F821  (GPAW's setup.py executes this file with `libraries` defined)
