"""`crucible demo`, the README's main command, end to end as a user runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from crucible.devnet.manage import Devnet

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_pays_the_honest_worker_and_slashes_the_cheater(tmp_path: Path) -> None:
    home = tmp_path / "demo"

    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )

    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    accuracy = float(re.search(r"test accuracy (?:of the honest job's model\s*│\s*)?\S*?([\d.]+)%", text).group(1))  # type: ignore[union-attr]
    assert accuracy > 85.0
    assert len(re.findall(r"dispute \d+ ended challenger_won on \[\d+, \d+\]; job 2 is slashed", text)) == 2
    assert "ended challenger_won on [237, 238]" in text, "the dissection ends on the forged step"
    assert re.search(r"shared by 2 challengers", text), "both verifiers share the reward"
    assert re.search(r"provider split \[220, 240\] at \[", text), "the k-ary rounds are shown"
    assert "1 ok / 0 slashed" in text and "0 ok / 1 slashed" in text
    assert re.search(r"market balance = liabilities\s*│\s*([\d.]+) ETH = \1 ETH", text)
    assert Devnet(home).status().daemons == {}, "the demo stops the devnet it started"
