"""Our own GPAW-PBE reference data for aluminium (``alal reference`` → ``reference_data/dft/<name>.json``).

Layout:

``settings``     every numerical choice (cutoff, k-point density, smearing, SCF criteria) in one place
``engine``       GPAW calculations as independent tasks: a pool of serial workers, a per-calculation cache,
                 progress with ETA
``records``      structure hashes, code versions, the common JSON header, atomic writes, "is it up to date"
``eos``, ``elastic``, ``bain``, ``gsfe``   one module per reference property
``convergence``  the study that justifies ``settings`` (``reference_data/dft/convergence.json``)
``cli``          ``alal reference``

``make validate`` never runs DFT: it reads the committed JSON files through
:meth:`validation.references.References.dft_data`.
"""
