"""privagg: differentially private segment statistics with durable budgets.

    import privagg
    session = privagg.connect("privagg.toml", analyst="alice")
    release = session.query("SELECT segment, AVG(spend) AS avg_spend FROM purchases GROUP BY segment")
    release.to_pandas()          # or pyarrow.table(release), polars.from_arrow(release)
    release.metadata["epsilon"]  # what was charged

Without a catalog file (a notebook over its own DataFrames):

    session = privagg.session("budget.db", analyst="me", epsilon=5.0, delta=1e-6)
    session.register_table("visits", df, privacy_unit="customer_id",
                           columns={"spend": {"lower": 0, "upper": 500}})

Every query is charged to the analyst's budget in the catalog's ledger (the
same ledger the `privagg` CLI and server charge) before any data is read.
There is no seed and no way to get un-noised values. Guide: docs/python.md.
"""

from ._privagg import (
    BudgetExhausted,
    CatalogError,
    ExecutionError,
    InvalidSql,
    LedgerError,
    PrivaggError,
    QueryRejected,
    Release,
    Session,
    UnknownAnalyst,
    __version__,
    connect,
    session,
)

__all__ = [
    "BudgetExhausted",
    "CatalogError",
    "ExecutionError",
    "InvalidSql",
    "LedgerError",
    "PrivaggError",
    "QueryRejected",
    "Release",
    "Session",
    "UnknownAnalyst",
    "__version__",
    "connect",
    "session",
]
