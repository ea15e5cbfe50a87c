"""Fixtures: a catalog over ../shared/data/PUMS_dup.csv (real Census PUMS
rows) with a ledger in a fresh folder, and two analysts."""

import pathlib

import pytest

DATA = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "PUMS_dup.csv"


def write_catalog(folder: pathlib.Path, alice_epsilon: float = 2.0) -> pathlib.Path:
    catalog = folder / "privagg.toml"
    catalog.write_text(
        f"""
[ledger]
path = "ledger.db"
[defaults]
epsilon = 0.5
[[analysts]]
name = "alice"
epsilon = {alice_epsilon}
delta = 1e-5
[[analysts]]
name = "bob"
epsilon = 5.0
delta = 1e-5
[[tables]]
name = "pums"
path = "{DATA}"
privacy_unit = "pid"
max_rows_per_group = 2
[tables.columns.age]
lower = 0.0
upper = 100.0
[tables.columns.sex]
public_values = [0, 1]
"""
    )
    return catalog


@pytest.fixture
def catalog(tmp_path):
    assert DATA.exists(), DATA
    return write_catalog(tmp_path)
