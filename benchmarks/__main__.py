"""``python -m benchmarks [--quick] [--sections ...] [--out DIR]``: see :mod:`benchmarks.suite`."""

from benchmarks.suite import main

raise SystemExit(main())
