"""The oracle role: replays the one disputed training step and posts verdicts (docs/design.md §7)."""
