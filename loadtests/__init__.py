"""Whole-system load, failover and chaos runs (``python -m loadtests``, ``make bench|chaos``).

Every run drives the real system on this machine: the sandbox API server and the ZeroSSL
emulator as child processes, ``python -m controller run`` replicas, the harness acting as
cert-manager. Layout:

- ``scenarios/``: throughput, quota, informer, failover, chaos (each ``async run()``);
- ``harness``: a running system with its observers (``LoadRun``); ``workload``: issuers,
  planned requests, the cert-manager-like submitter; ``watcher``: when requests finished;
- ``sampling``, ``accounting``, ``supervisor``: process CPU/RSS and replica metrics, the
  emulators' request counts, kubelet-like restarts and leader kills;
- ``audit``, ``summary``, ``stats``: correctness checks and numbers;
- ``results``, ``plots``, ``report``: JSON per run, PNGs and ``docs/benchmarks.md``;
- ``profiles``: which runs ``bench`` and ``chaos`` make (small, standard, full).
"""
