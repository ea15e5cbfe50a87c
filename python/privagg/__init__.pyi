"""Type stubs of privagg (the Rust extension privagg._privagg)."""

from os import PathLike
from typing import Any, Dict, List, Optional, Union

__version__: str

class PrivaggError(Exception):
    """Base class of privagg's errors."""

class QueryRejected(PrivaggError):
    """The DP analysis refused the query, or an option value (nothing charged)."""

class InvalidSql(QueryRejected):
    """Malformed SQL, an unknown table or column (nothing charged)."""

class BudgetExhausted(PrivaggError):
    """The budget cannot pay for the query (nothing charged)."""

class CatalogError(PrivaggError):
    """The catalog file or a table's data is not usable."""

class UnknownAnalyst(CatalogError):
    """The analyst is not in the catalog."""

class LedgerError(PrivaggError):
    """The budget ledger failed (read-only, locked, disk); nothing was charged."""

class ExecutionError(PrivaggError):
    """Reading data failed after the charge (the charge stays)."""

class Release:
    """The noisy rows of one query (Arrow, with <col>_ci_low/_ci_high columns) and their cost."""

    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object:
        """The Arrow C stream (PyCapsule interface)."""
    def to_arrow(self) -> Any:
        """The release as a pyarrow.Table."""
    def to_pandas(self) -> Any:
        """The release as a pandas.DataFrame."""
    @property
    def metadata(self) -> Dict[str, Any]:
        """epsilon, delta, request_id, mechanism, split, accuracy per cell, ..."""
    @property
    def columns(self) -> List[str]:
        """The column names."""
    def __len__(self) -> int: ...

class Session:
    """One analyst's session over a catalog."""

    @property
    def analyst(self) -> str:
        """The analyst this session charges."""
    def query(
        self,
        sql: str,
        *,
        epsilon: Optional[float] = None,
        delta: Optional[float] = None,
        confidence: Optional[float] = None,
    ) -> Release:
        """Run a DP query; charged before any data is read."""
    def explain(self, sql: str) -> Dict[str, Any]:
        """Cost and expected accuracy of a query; charges nothing."""
    def budget(self) -> List[Dict[str, Any]]:
        """Limit, spent and remaining per scope of this analyst."""
    def audit_verify(self) -> Dict[str, Any]:
        """Verify the ledger's audit hash chain and money; 'intact' says if it holds."""
    def export(
        self, job: Union[str, PathLike], *, out: Union[str, PathLike], force: bool = False
    ) -> List[str]:
        """Run an export job of this analyst; returns the files written."""
    def register_table(
        self,
        name: str,
        data: Any,
        *,
        privacy_unit: str,
        columns: Optional[Dict[str, Dict[str, Any]]] = None,
        max_groups_contributed: int = 1,
        max_rows_per_group: int = 1,
        consent_column: Optional[str] = None,
    ) -> None:
        """Register a pandas/polars/pyarrow DataFrame (or Arrow stream) as a private
        table, with the catalog's validation; `columns` maps a column to
        {"lower": .., "upper": ..}, {"public_values": [...]} and/or {"type": ..}."""

def connect(catalog: Union[str, PathLike], *, analyst: str) -> Session:
    """Open a catalog as an analyst."""

def session(
    ledger: Union[str, PathLike],
    *,
    analyst: str,
    epsilon: Optional[float] = None,
    rho: Optional[float] = None,
    delta: Optional[float] = None,
) -> Session:
    """A session without a catalog file: `analyst` spends a budget of `epsilon`
    (and `delta`), or `rho` in zCDP, in the SQLite ledger `ledger` (created if
    missing); register DataFrames with `Session.register_table`."""
