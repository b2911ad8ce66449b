"""The oracle role: replays the one disputed training step and posts verdicts (DESIGN.md section 6)."""
