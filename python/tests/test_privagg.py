"""privagg from Python: every API call, each exception class, budgets across
sessions and processes, Arrow into pyarrow/pandas/polars, bad inputs."""

import json
import math
import multiprocessing
import subprocess
import sys

import pyarrow as pa
import pytest

import privagg

QUERY = "SELECT sex, COUNT(*) AS n, AVG(age) AS avg_age FROM pums GROUP BY sex ORDER BY sex"


def spent(session):
    (row,) = [b for b in session.budget() if b["scope"].startswith("analyst")]
    return float(row["spent"]["epsilon"])


def test_a_query_is_an_arrow_release_with_its_charge(catalog):
    session = privagg.connect(catalog, analyst="alice")
    release = session.query(QUERY)
    assert len(release) == 2
    assert release.columns == [
        "sex", "n", "n_ci_low", "n_ci_high", "avg_age", "avg_age_ci_low", "avg_age_ci_high",
    ]
    table = pa.table(release)  # the PyCapsule stream interface
    assert table.column("sex").to_pylist() == [0, 1]
    for row in table.to_pylist():
        assert row["n_ci_low"] <= row["n"] <= row["n_ci_high"]
        assert 0 <= row["avg_age"] <= 100 or row["avg_age_ci_low"] <= 100
    assert release.to_arrow().num_rows == 2
    frame = release.to_pandas()
    assert list(frame["sex"]) == [0, 1]
    meta = release.metadata
    assert meta["analyst"] == "alice" and meta["epsilon"] == "0.5"
    assert meta["request_id"]
    assert spent(session) == pytest.approx(0.5)


def test_polars_reads_a_release_when_installed(catalog):
    polars = pytest.importorskip("polars")
    release = privagg.connect(catalog, analyst="alice").query(QUERY, epsilon=0.25)
    frame = polars.from_arrow(pa.table(release))
    assert frame.height == 2


def test_explain_charges_nothing_and_epsilon_applies_per_query(catalog):
    session = privagg.connect(catalog, analyst="alice")
    plan = session.explain(QUERY)
    assert plan["epsilon"] == "0.5"
    assert spent(session) == 0
    release = session.query(QUERY, epsilon=0.1, confidence=0.9)
    assert release.metadata["epsilon"] == "0.1"
    assert spent(session) == pytest.approx(0.1)
    # SET in a request becomes the session's setting; a new session has its own.
    session.query("SET privagg.epsilon = 0.2; " + QUERY)
    assert session.query(QUERY).metadata["epsilon"] == "0.2"
    other = privagg.connect(catalog, analyst="alice")
    assert other.query(QUERY).metadata["epsilon"] == "0.5"


def test_each_error_has_its_class_and_costs_nothing(catalog, tmp_path):
    session = privagg.connect(catalog, analyst="alice")
    with pytest.raises(privagg.QueryRejected, match="query rejected"):
        session.query("SELECT * FROM pums")
    with pytest.raises(privagg.InvalidSql):
        session.query("SELECT COUNT(* FROM pums")
    with pytest.raises(privagg.InvalidSql):
        session.query("SELECT COUNT(*) FROM nowhere")
    with pytest.raises(privagg.BudgetExhausted, match="budget exhausted"):
        session.query(QUERY, epsilon=100)
    for bad in (0, -1, math.nan, math.inf):
        with pytest.raises(privagg.QueryRejected):
            session.query(QUERY, epsilon=bad)
    with pytest.raises(privagg.QueryRejected):
        session.query(QUERY, confidence=1.5)
    with pytest.raises(TypeError):
        session.query(QUERY, epsilon="a lot")
    with pytest.raises(TypeError):
        session.query(None)
    assert spent(session) == 0
    with pytest.raises(privagg.UnknownAnalyst):
        privagg.connect(catalog, analyst="mallory")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[tables]]\nname = 3\n")
    with pytest.raises(privagg.CatalogError):
        privagg.connect(broken, analyst="alice")
    with pytest.raises(privagg.CatalogError):
        privagg.connect(tmp_path / "missing.toml", analyst="alice")
    assert issubclass(privagg.BudgetExhausted, privagg.PrivaggError)
    assert issubclass(privagg.PrivaggError, Exception)


def test_two_sessions_of_one_analyst_share_the_budget(catalog):
    one = privagg.connect(catalog, analyst="alice")
    two = privagg.connect(catalog, analyst="alice")
    bob = privagg.connect(catalog, analyst="bob")
    one.query(QUERY, epsilon=1.5)
    with pytest.raises(privagg.BudgetExhausted):
        two.query(QUERY, epsilon=1.0)
    two.query(QUERY, epsilon=0.5)
    assert spent(one) == pytest.approx(2.0)
    bob.query(QUERY, epsilon=1.0)  # another analyst's budget is untouched
    assert spent(bob) == pytest.approx(1.0)
    verification = one.audit_verify()
    assert verification["intact"] is True


def _spend(catalog, queue):
    import privagg as p

    session = p.connect(catalog, analyst="alice")
    released = 0
    for _ in range(10):
        try:
            session.query(QUERY, epsilon=0.25)
            released += 1
        except p.BudgetExhausted:
            pass
    queue.put(released)


def test_two_processes_never_overspend(catalog):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_spend, args=(str(catalog), queue)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    released = queue.get(timeout=5) + queue.get(timeout=5)
    assert released == 8  # alice's 2.0 at 0.25 each, across both processes
    assert spent(privagg.connect(catalog, analyst="alice")) == pytest.approx(2.0)


def test_export_runs_a_job_of_the_sessions_analyst_only(catalog, tmp_path):
    job = tmp_path / "job.toml"
    job.write_text(
        f"""
catalog = "{catalog}"
analyst = "alice"
[[queries]]
name = "by_sex"
sql = "{QUERY}"
epsilon = 0.5
format = "csv"
"""
    )
    files = privagg.connect(catalog, analyst="alice").export(job, out=tmp_path / "out")
    assert any(f.endswith("by_sex.csv") for f in files), files
    with pytest.raises(privagg.QueryRejected, match="this session is 'bob'"):
        privagg.connect(catalog, analyst="bob").export(job, out=tmp_path / "out2")


def test_no_seed_and_no_raw_values_are_reachable(catalog):
    names = set(dir(privagg)) | set(dir(privagg.Session)) | set(dir(privagg.Release))
    assert not any("seed" in n.lower() or "raw" in n.lower() for n in names), names
    session = privagg.connect(catalog, analyst="alice")
    with pytest.raises(privagg.QueryRejected):
        session.query("SET privagg.seed = 1; " + QUERY)


def test_the_cli_sees_what_python_spent(catalog):
    privagg.connect(catalog, analyst="alice").query(QUERY, epsilon=0.75)
    cli = pytest.importorskip("shutil").which("privagg")
    if cli is None:
        pytest.skip("the privagg binary is not on PATH")
    out = subprocess.run(
        [cli, "budget", "--catalog", str(catalog), "--json"], capture_output=True, text=True, check=True
    )
    rows = json.loads(out.stdout)
    alice = [r for r in rows if r["scope"] == "analyst:alice"][0]
    assert alice["spent"]["epsilon"] == "0.75"


def test_a_dataframe_registers_as_a_private_table_with_the_catalogs_checks(catalog):
    pd = pytest.importorskip("pandas")
    session = privagg.connect(catalog, analyst="bob")
    frame = pd.DataFrame(
        {
            "customer": [1, 1, 2, 3, 4, 5, 6, 7] * 50,
            "segment": ["gold", "gold", "silver", "gold", None, "silver", "gold", "silver"] * 50,
            "spend": [10.0, 20.0, math.nan, 1e9, -5.0, 30.0, None, 40.0] * 50,
        }
    )
    session.register_table(
        "shop",
        frame,
        privacy_unit="customer",
        columns={"spend": {"lower": 0, "upper": 100}, "segment": {"public_values": ["gold", "silver"]}},
        max_rows_per_group=2,
    )
    release = session.query(
        "SELECT segment, COUNT(*) AS n, SUM(spend) AS total FROM shop GROUP BY segment ORDER BY segment",
        epsilon=1.0,
    )
    table = pa.table(release)
    assert table.column("segment").to_pylist() == ["gold", "silver"]
    # Raw rows of a registered table are as private as a catalog table's.
    with pytest.raises(privagg.QueryRejected):
        session.query("SELECT * FROM shop")
    # polars and pyarrow data register too.
    polars = pytest.importorskip("polars")
    session.register_table(
        "shop_pl", polars.from_pandas(frame), privacy_unit="customer",
        columns={"spend": {"lower": 0, "upper": 100}},
    )
    session.register_table("shop_pa", pa.Table.from_pandas(frame), privacy_unit="customer")
    assert len(session.query("SELECT COUNT(*) AS n FROM shop_pl", epsilon=0.5)) == 1


def test_a_bad_dataframe_policy_is_refused_before_anything_is_charged(catalog):
    pd = pytest.importorskip("pandas")
    session = privagg.connect(catalog, analyst="bob")
    frame = pd.DataFrame({"customer": [1, 2], "segment": ["a", "b"], "spend": [1.0, 2.0]})
    with pytest.raises(privagg.CatalogError, match="nobody"):
        session.register_table("t", frame, privacy_unit="nobody")
    with pytest.raises(privagg.CatalogError, match="lower"):
        session.register_table("t", frame, privacy_unit="customer", columns={"spend": {"lower": 5, "upper": 1}})
    with pytest.raises(privagg.CatalogError, match="segment"):
        session.register_table("t", frame, privacy_unit="customer", columns={"segment": {"lower": 0, "upper": 1}})
    with pytest.raises(privagg.CatalogError, match="color"):
        session.register_table("t", frame, privacy_unit="customer", columns={"spend": {"color": "red"}})
    with pytest.raises(TypeError):
        session.register_table("t", [1, 2, 3], privacy_unit="customer")
    assert spent(session) == 0
    # The session still works after the refusals.
    assert len(session.query(QUERY, epsilon=0.1)) == 2


SLOW_QUERY_SCRIPT = """
import sys
import numpy as np, pandas as pd, privagg
session = privagg.connect(sys.argv[1], analyst="bob")
n = 600_000
rng = np.random.default_rng(1)
frame = pd.DataFrame({"customer": rng.integers(0, 100_000, n), "segment": rng.choice(["a", "b", "c"], n),
                      "spend": rng.random(n) * 100})
session.register_table("big", frame, privacy_unit="customer", max_groups_contributed=3,
                       columns={"spend": {"lower": 0, "upper": 100}, "segment": {"public_values": ["a", "b", "c"]}})
print("running", flush=True)
session.query("SELECT segment, COUNT(*) AS n, MEDIAN(spend) AS med FROM big GROUP BY segment", epsilon=0.5)
print("finished", flush=True)
"""


def test_ctrl_c_interrupts_a_running_query(catalog):
    import signal
    import time

    pytest.importorskip("numpy")
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_QUERY_SCRIPT, str(catalog)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "running"
    time.sleep(0.5)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert "KeyboardInterrupt" in err, err
    # The query (seconds long) was abandoned, not waited for.
    assert "finished" not in out, "the query finished before Ctrl-C: make it slower"
    # Whether the charge landed before the interrupt or not, the books balance.
    assert privagg.connect(catalog, analyst="bob").audit_verify()["intact"] is True


def test_a_session_without_a_catalog_charges_its_own_durable_ledger(tmp_path):
    pd = pytest.importorskip("pandas")
    ledger = tmp_path / "notebook.db"
    frame = pd.DataFrame({"customer": [1, 2, 3, 4] * 100, "segment": ["a", "b"] * 200, "spend": [5.0] * 400})
    session = privagg.session(ledger, analyst="me", epsilon=1.0, delta=1e-6)
    assert "without a catalog" in repr(session)
    session.register_table(
        "shop", frame, privacy_unit="customer", columns={"segment": {"public_values": ["a", "b"]}}
    )
    assert len(session.query("SELECT segment, COUNT(*) AS n FROM shop GROUP BY segment", epsilon=0.6)) == 2
    with pytest.raises(privagg.BudgetExhausted):
        session.query("SELECT COUNT(*) AS n FROM shop", epsilon=0.6)
    with pytest.raises(privagg.QueryRejected, match="catalog"):
        session.export(tmp_path / "job.toml", out=tmp_path / "out")
    # A new kernel over the same ledger finds the spend (it is on disk, not in the session).
    again = privagg.session(ledger, analyst="me", epsilon=1.0, delta=1e-6)
    assert spent(again) == pytest.approx(0.6)
    assert again.audit_verify()["intact"] is True
    # The budget gets the catalog's validation.
    for bad in ({"epsilon": -1.0}, {"epsilon": math.nan}, {"epsilon": math.inf}, {}, {"epsilon": 1.0, "rho": 0.5}):
        with pytest.raises(privagg.CatalogError):
            privagg.session(tmp_path / "other.db", analyst="me", **bad)
    with pytest.raises(privagg.LedgerError):
        privagg.session(tmp_path / "missing-folder" / "x.db", analyst="me", epsilon=1.0)


CTRL_C_REGISTER_SCRIPT = """
import sys
import numpy as np, pandas as pd, privagg
session = privagg.session(sys.argv[1], analyst="me", epsilon=5.0, delta=1e-6)
n = 400_000
rng = np.random.default_rng(2)
frame = pd.DataFrame({"customer": rng.integers(0, 50_000, n), "spend": rng.random(n) * 100})
print("registering", flush=True)
try:
    for i in range(200):
        session.register_table(f"t{i % 3}", frame, privacy_unit="customer", columns={"spend": {"lower": 0, "upper": 100}})
except KeyboardInterrupt:
    print("interrupted", flush=True)
session.register_table("t0", frame, privacy_unit="customer", columns={"spend": {"lower": 0, "upper": 100}})
print(len(session.query("SELECT COUNT(*) AS n FROM t0", epsilon=0.5)), flush=True)
"""


def test_ctrl_c_while_registering_leaves_the_session_usable(tmp_path):
    import signal
    import time

    pytest.importorskip("numpy")
    child = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_REGISTER_SCRIPT, str(tmp_path / "ledger.db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "registering"
    time.sleep(1.0)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=300)
    assert out.split() == ["interrupted", "1"], (out, err)
