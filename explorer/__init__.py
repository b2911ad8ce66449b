"""The read-only web explorer: `crucible explorer`."""
