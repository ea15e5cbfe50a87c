"""The segment query from Python vs the `privagg` CLI on the same Parquet data
(docs/performance.md). Usage: python python_vs_cli.py ROWS PRIVAGG_BINARY
Needs a release wheel (`pip install ./python`) and a release binary."""

import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import privagg

rows, binary = int(sys.argv[1]), sys.argv[2]
folder = pathlib.Path(tempfile.mkdtemp())
rng = np.random.default_rng(11)
customers = rng.integers(0, rows // 10, rows)
segments = np.array([f"s{i:02d}" for i in range(12)])[rng.integers(0, 12, rows)]
table = pa.table({"customer_id": customers, "segment": segments, "spend": rng.gamma(2.0, 30.0, rows)})
pq.write_table(table, folder / "purchases.parquet")
values = ", ".join(f'"s{i:02d}"' for i in range(12))
(folder / "privagg.toml").write_text(
    f"""[ledger]
path = "ledger.db"
[[analysts]]
name = "bench"
epsilon = 100000.0
delta = 1e-3
[[tables]]
name = "purchases"
path = "{folder / 'purchases.parquet'}"
privacy_unit = "customer_id"
max_rows_per_group = 5
[tables.columns.spend]
lower = 0.0
upper = 500.0
[tables.columns.segment]
public_values = [{values}]
"""
)
catalog = folder / "privagg.toml"
sql = "SELECT segment, COUNT(*) AS n, SUM(spend) AS total, AVG(spend) AS avg_spend FROM purchases GROUP BY segment"


def cli():
    subprocess.run(
        [binary, "query", "--catalog", str(catalog), "--analyst", "bench", "--epsilon", "0.1",
         "--format", "json", sql],
        check=True, capture_output=True,
    )


session = privagg.connect(catalog, analyst="bench")


def python_open_session():
    pa.table(session.query(sql, epsilon=0.1))


def python_fresh_connect():
    pa.table(privagg.connect(catalog, analyst="bench").query(sql, epsilon=0.1))


runs = {"cli": [], "python (open session)": [], "python (connect + query)": []}
cli()
python_open_session()
for _ in range(5):
    for name, f in [("cli", cli), ("python (open session)", python_open_session),
                    ("python (connect + query)", python_fresh_connect)]:
        t = time.perf_counter()
        f()
        runs[name].append(time.perf_counter() - t)
base = statistics.median(runs["cli"])
for name, times in runs.items():
    m = statistics.median(times)
    print(f"{name:26s} median {m:.3f} s  ({m / base:.2f}x the CLI)  runs {[round(x, 3) for x in times]}")
