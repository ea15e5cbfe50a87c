"""privagg quickstart: segment statistics with differential privacy from Python.

Generates a small customer table with pandas, registers it as a private
table (customer = privacy unit), and asks for per-segment statistics with
their confidence intervals and cost. Run: python quickstart.py
"""

import pathlib
import tempfile

import numpy as np
import pandas as pd
import pyarrow as pa

import privagg

# A catalog with one analyst and her budget; the ledger lives beside it.
folder = pathlib.Path(tempfile.mkdtemp())
(folder / "privagg.toml").write_text(
    '[ledger]\npath = "ledger.db"\n[[analysts]]\nname = "alice"\nepsilon = 3.0\ndelta = 1e-6\n'
)

# 20,000 purchases by 5,000 customers in four segments.
rng = np.random.default_rng(7)
customers = rng.integers(0, 5_000, 20_000)
segments = np.array(["bronze", "silver", "gold", "platinum"])[customers % 4]
purchases = pd.DataFrame(
    {"customer": customers, "segment": segments, "spend": rng.gamma(2.0, 30.0, 20_000)}
)

session = privagg.connect(folder / "privagg.toml", analyst="alice")
session.register_table(
    "purchases",
    purchases,
    privacy_unit="customer",
    columns={
        "spend": {"lower": 0, "upper": 300},
        "segment": {"public_values": ["bronze", "silver", "gold", "platinum"]},
    },
    max_rows_per_group=5,
)

sql = """SELECT segment, COUNT(*) AS purchases, AVG(spend) AS avg_spend
         FROM purchases GROUP BY segment ORDER BY segment"""
plan = session.explain(sql)
print(f"cost: epsilon {plan['epsilon']}, delta {plan['delta']}")

release = session.query(sql, epsilon=1.0)
table = pa.table(release)
print(table.to_pandas().round(1).to_string(index=False))
print("charged:", release.metadata["epsilon"], "request", release.metadata["request_id"])
budget = session.budget()[0]
print("remaining:", budget["remaining"])
assert table.num_rows == 4
assert session.audit_verify()["intact"]
