"""The segment query in privagg, OpenDP (Polars) and SmartNoise SQL on the same
generated data, each in its own Python (they pin different dependencies).

    python peers.py ROWS OUT_DIR PRIVAGG_PY OPENDP_PY SMARTNOISE_PY [TIMEOUT_S]

The driver (any Python with numpy + pyarrow) writes OUT_DIR/purchases.parquet
(ROWS rows, ROWS/10 customers, 12 public segments, spend ~ Gamma(2, 30)), then
runs `peers.py run TOOL OUT_DIR` with each interpreter; a tool prints one JSON
line with its timings. Every tool answers the same question with user-level
DP (the customer is the privacy unit), ε = 1 in total, public segment keys,
spend clamped to [0, 500], at most 5 rows per (customer, segment) and one
segment per customer: per segment a count and a sum of spend. Timed: the
query on data already in the tool's hands (privagg: the catalog's Parquet
file, read per query; OpenDP: a Polars LazyFrame scanning the same file;
SmartNoise: a pandas DataFrame it copies into SQLite when the reader is
made — that copy is timed separately as `load_s`). Median of 3 runs after a
warm-up (SmartNoise: 1 run when one run exceeds 60 s).
"""

import json
import pathlib
import statistics
import subprocess
import sys
import time

SEGMENTS = [f"s{i:02d}" for i in range(12)]


def generate(rows, out):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(11)
    table = pa.table({
        "customer_id": rng.integers(0, max(rows // 10, 1), rows),
        "segment": np.array(SEGMENTS)[rng.integers(0, 12, rows)],
        "spend": rng.gamma(2.0, 30.0, rows),
    })
    pq.write_table(table, out / "purchases.parquet")


def timed(f, runs=3):
    f()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
        if times[-1] > 60:
            break
    return statistics.median(times), times


def run_privagg(out):
    import pyarrow as pa
    import privagg

    values = ", ".join(f'"{s}"' for s in SEGMENTS)
    (out / "privagg.toml").write_text(f"""[ledger]
path = "ledger.db"
[[analysts]]
name = "bench"
epsilon = 100000.0
[[tables]]
name = "purchases"
path = "{out / 'purchases.parquet'}"
privacy_unit = "customer_id"
max_rows_per_group = 5
[tables.columns.spend]
lower = 0.0
upper = 500.0
[tables.columns.segment]
public_values = [{values}]
""")
    session = privagg.connect(out / "privagg.toml", analyst="bench")
    sql = "SELECT segment, COUNT(*) AS n, SUM(spend) AS total FROM purchases GROUP BY segment"
    return {"query_s": timed(lambda: pa.table(session.query(sql, epsilon=1.0)))}


def run_opendp(out):
    import opendp.prelude as dp
    import polars as pl

    dp.enable_features("contrib")
    rows = pl.scan_parquet(out / "purchases.parquet").select(pl.len()).collect().item()

    def query():
        context = dp.Context.compositor(
            data=pl.scan_parquet(out / "purchases.parquet"),
            privacy_unit=dp.unit_of(contributions=1, identifier="customer_id"),
            privacy_loss=dp.loss_of(epsilon=1.0),
            split_evenly_over=1,
            margins=[dp.polars.Margin(by=["segment"], invariant="keys", max_length=rows, max_groups=len(SEGMENTS))],
        )
        q = (
            context.query()
            .truncate_num_groups(1, by=["segment"], keep="first")
            .truncate_per_group(5, by=["segment"])
            .group_by("segment")
            .agg(dp.len(), pl.col("spend").fill_null(0.0).dp.sum((0.0, 500.0)))
            .with_keys(pl.LazyFrame({"segment": SEGMENTS}))
        )
        return q.release().collect()

    return {"query_s": timed(query)}


def run_smartnoise(out):
    import pandas as pd
    import snsql

    frame = pd.read_parquet(out / "purchases.parquet")
    metadata = {"bench": {"shop": {"purchases": {
        "row_privacy": False, "max_ids": 5, "censor_dims": False,
        "customer_id": {"type": "int", "private_id": True},
        "segment": {"type": "string"},
        "spend": {"type": "float", "lower": 0.0, "upper": 500.0, "nullable": False},
    }}}}
    privacy = snsql.Privacy(epsilon=1.0, delta=1e-6)
    t = time.perf_counter()
    reader = snsql.from_df(frame, privacy=privacy, metadata=metadata)
    load = time.perf_counter() - t
    sql = "SELECT segment, COUNT(*) AS n, SUM(spend) AS total FROM shop.purchases GROUP BY segment"
    return {"load_s": load, "query_s": timed(lambda: reader.execute(sql))}


def main():
    if sys.argv[1] == "run":
        tool, out = sys.argv[2], pathlib.Path(sys.argv[3])
        print(json.dumps({"privagg": run_privagg, "opendp": run_opendp, "smartnoise": run_smartnoise}[tool](out)))
        return
    rows, out = int(sys.argv[1]), pathlib.Path(sys.argv[2])
    pythons = dict(zip(["privagg", "opendp", "smartnoise"], sys.argv[3:6]))
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 1800
    out.mkdir(parents=True, exist_ok=True)
    generate(rows, out)
    results = {}
    for tool, python in pythons.items():
        try:
            done = subprocess.run([python, __file__, "run", tool, str(out)], capture_output=True, text=True,
                                  timeout=timeout)
            line = done.stdout.strip().splitlines()[-1:] or [""]
            results[tool] = json.loads(line[0]) if done.returncode == 0 else {"error": done.stderr[-600:]}
        except subprocess.TimeoutExpired:
            results[tool] = {"error": f"no answer within {timeout:.0f} s"}
        print(tool, results[tool], flush=True)
    base = results.get("privagg", {}).get("query_s", [None])[0]
    for tool, r in results.items():
        if "query_s" in r and base:
            print(f"{tool:10s} median {r['query_s'][0]:.3f} s = {r['query_s'][0] / base:.2f}x privagg")


if __name__ == "__main__":
    main()
