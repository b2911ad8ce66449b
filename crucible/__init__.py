"""Crucible: verifiable ML training on untrusted GPUs.

The ``cpu-portable`` determinism profile needs two environment variables set *before* torch is
imported (DESIGN.md section 4). Every entry point imports this package first, so they are set
here; ``crucible.profiles`` refuses to train if torch was already loaded with other settings.
"""

import os as _os

for _name, _value in (("MKL_CBWR", "COMPATIBLE"), ("ATEN_CPU_CAPABILITY", "default")):
    _os.environ.setdefault(_name, _value)

__version__ = "0.1.0"
