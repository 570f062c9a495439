"""Active learning for ANI potentials, after Smith et al., Nat. Commun. 12, 1257 (2021).

One module per stage, joined only in :mod:`alal.al.loop`:

  config.py       the validated TOML schema (units in key names)
  builder.py      random disordered orthorhombic cells (paper Sec. IIB2)
  oracle.py       labels (energy, forces, stress) from any ASE calculator, failures classified and recorded
  descriptors.py  ANI AEVs and their Jacobians (cached per structure) for fast force training
  trainer.py      an ensemble of ANI networks trained on energies and forces (paper Eq. 1)
  uncertainty.py  ensemble disagreement: rho = sigma_E / sqrt(N), force spreads
  schedule.py     the randomized temperature schedule (paper Eq. 2)
  sampler.py      Langevin MD under the schedule, stopped at the first uncertain frame
  batch_sampler.py  the same trajectories advanced B at a time (one engine call per step for all of them)
  diversity.py    farthest-point selection of candidates on ANI descriptors
  execution.py    Parsl apps (local default, Slurm/LSF profiles); every task runs in a child process
  worker.py       the child-process entry point of every task
  tasks.py        the typed task files between the loop and the workers, and the records they produce
  stopping.py     the stop rule (window median of time-to-uncertainty, budgets) as a pure class
  recovery.py     resume: what a killed run left behind, collected or requeued
  loop.py         the loop: bootstrap, sample, label, retrain (orchestration only)
  rundir.py       run directory layout and the manifest
  status.py       ``alal status RUN_DIR``
  study.py        ``alal study table1 RUN_DIR`` (the paper's Table I)
  cli.py          ``alal train CONFIG``
"""
