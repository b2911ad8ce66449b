"""The headline figures before the second performance round, for the report's before/after table.

Copied from ``benchmarks/REPORT.md`` as written by the full run of 2026-11-22 (commit edf08b9, the
same 2-core machine), keyed by the headline's figure name. Figures whose name is not here had no
"before" value (new rows) and show a dash.
"""

from __future__ import annotations

BEFORE_RUN = "full run of 2026-11-22, commit edf08b9"

BEFORE: dict[str, str] = {
    "commitment overhead, mlp (k = 20)": "+50.1%",
    "commitment overhead, cnn (k = 20)": "+13.7%",
    "commitment overhead, gpt (k = 20)": "+0.1%",
    "profile cost, mlp": "1.82× (cpu-portable)",
    "profile cost, cnn": "1.82× (cpu-portable)",
    "profile cost, gpt": "3.82× (cpu-portable)",
    "happy path gas (post, claim, submit, finalize, withdraw)": "372,575",
    "whole dispute at k = 128": "954,855 gas, 17 txs",
    "dispute transactions vs OP Stack fault dispute game": "17",
    "challenge → verdict on the devnet (k = 32)": "0.91 s, 5 rounds",
    # 14.19 / 68.36 / 229.26 ms against provider steps of 0.217 s/200, 0.970 s/200, 5.383 s/40.
    "oracle: fetch + check + replay + hash of one step, mlp": "13.1 provider steps (1/15 of the job)",
    "oracle: fetch + check + replay + hash of one step, cnn": "14.1 provider steps (1/14 of the job)",
    "oracle: fetch + check + replay + hash of one step, gpt": "1.7 provider steps (1/23 of the job)",
    "finalized jobs per minute by workers": "1: 28.3, 2: 52.4, 4: 84.8",
    "RPC calls per finalized job": "1 w: 209, 2 w: 202, 4 w: 186",
    "IPFS upload / fetch, 34.8 MB checkpoint": "98 / 113 MB/s",
    "GPU (cuda profile)": "not measured",
}
