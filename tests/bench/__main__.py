"""``python -m tests.bench``: run the benchmark (``--help`` for its options)."""

from tests.bench.run import main

raise SystemExit(main())
