"""privagg serve through psycopg 3 (the extended protocol, server-side
parameters, prepared statements), against a server over `privagg generate`
data. Run by .ci/run from a venv: PRIVAGG_DSN names the server."""

import os
import sys

import psycopg
from psycopg import errors

DSN = os.environ["PRIVAGG_DSN"]
SEGMENTS = ["bronze", "gold", "platinum", "silver"]


def connect(**kwargs):
    conn = psycopg.connect(DSN, **kwargs)
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    return conn, notices


def charged(notices):
    return [n for n in notices if n.startswith("privagg: charged epsilon")]


def main():
    conn, notices = connect(autocommit=True)
    with conn.cursor() as cur:
        # A parameter in WHERE: bound server-side, each execution a release.
        sql = (
            "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 0.1) segment, "
            "COUNT(*) AS n, AVG(spend) AS avg_spend FROM purchases "
            "WHERE spend >= %s GROUP BY segment ORDER BY segment"
        )
        cur.execute(sql, (10,))
        names = [c.name for c in cur.description]
        assert names == [
            "segment", "n", "n_ci_low", "n_ci_high",
            "avg_spend", "avg_spend_ci_low", "avg_spend_ci_high",
        ], names
        rows = cur.fetchall()
        assert [r[0] for r in rows] == SEGMENTS, rows
        for r in rows:
            assert r[2] <= r[1] <= r[3], r
            assert isinstance(r[1], int) and isinstance(r[4], float), r
        assert len(charged(notices)) == 1, notices
        assert "epsilon 0.1" in charged(notices)[0], notices

        # A prepared statement executed twice: two releases, two charges.
        for threshold in (5.5, 50.0):
            cur.execute(sql, (threshold,), prepare=True)
            assert len(cur.fetchall()) == 4
        assert len(charged(notices)) == 3, notices

        # A string parameter is a value, never SQL.
        cur.execute(
            "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 0.1) COUNT(*) AS n "
            "FROM purchases WHERE segment = %s",
            ("gold' OR '1'='1",),
        )
        assert len(cur.fetchall()) == 1

        # Errors carry the SQLSTATE and the CLI's text; nothing is charged.
        before = len(charged(notices))
        try:
            cur.execute("SELECT * FROM purchases")
            raise AssertionError("raw rows were not refused")
        except errors.FeatureNotSupported as e:
            assert e.sqlstate == "0A000" and "query rejected" in str(e), e
        try:
            cur.execute(
                "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 100) COUNT(*) FROM purchases"
            )
            raise AssertionError("an over-budget query was not refused")
        except psycopg.Error as e:
            assert e.sqlstate == "53400" and "budget exhausted" in str(e), e
        try:
            cur.execute("SELECT COUNT(*) FROM nowhere")
            raise AssertionError("an unknown table was not refused")
        except psycopg.Error as e:
            assert e.sqlstate == "42P01", e
        assert len(charged(notices)) == before, notices

        # Introspection, as drivers and notebooks do it.
        cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        assert cur.fetchall() == [("purchases",)]
    conn.close()

    # psycopg's default: statements inside a transaction (BEGIN is accepted;
    # every DP query is its own charged request all the same).
    conn, notices = connect()
    with conn.cursor() as cur:
        cur.execute(
            "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 0.1) COUNT(*) AS n FROM purchases"
        )
        (n, low, high), = cur.fetchall()
        assert low <= n <= high
    conn.commit()
    assert len(charged(notices)) == 1, notices
    conn.close()
    print("psycopg: parameters, prepared statements, errors, introspection, transactions: as expected")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"psycopg test failed: {e}", file=sys.stderr)
        raise
