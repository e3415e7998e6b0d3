"""The performance benchmark of issue 8 (``scripts/bench``, ``python -m tests.bench``).

Modules, one job each: ``model`` (the generated GGUF), ``config`` (settings),
``loadgen`` (clients and load), ``servers`` (child processes), ``inprocess`` (the
llama-cpp-python baseline, a child process), ``bare_app`` (the reference Quart-trio
app), ``phases`` (one measurement per system), ``stats``, ``results``, ``targets``,
``report`` (pure), ``run`` (the order of a run). Only ``test_harness.py`` is a test:
the benchmark itself never runs in the suite.
"""
