"""The segment query on the local engine vs a Ballista cluster of privagg
processes (1 scheduler + 2 executors on this machine), docs/performance.md.

    python benches/cluster_vs_local.py ROWS PRIVAGG_BINARY DIR

Needs numpy + pyarrow (to write the data) and strace (to count the bytes
the client receives). Writes DIR/purchases/*.parquet (ROWS rows, ROWS/10
customers, 12 public segments, spend ~ Gamma(2, 30); kept for a re-run),
starts the cluster on 127.0.0.1:50250.., runs the query alternately locally
(`--engine local`) and on the cluster (`--engine df://...`), 3 runs each,
then once more each under strace to count the bytes the client reads from
sockets (by peer port), and reports medians, peak RSS of every process
(the client's from /usr/bin/time, the cluster's VmHWM) and bytes.
"""

import os
import pathlib
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

rows, binary, folder = int(sys.argv[1]), os.path.abspath(sys.argv[2]), pathlib.Path(sys.argv[3])
SEGMENTS = [f"s{i:02d}" for i in range(12)]
SCHEDULER, EXECUTORS = 50250, [50261, 50271]


def generate():
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = folder / "purchases"
    if data.exists() and (folder / "rows").read_text() == str(rows):
        return
    data.mkdir(parents=True, exist_ok=True)
    for f in data.glob("*.parquet"):
        f.unlink()
    rng = np.random.default_rng(5)
    chunk = 10_000_000
    for i, start in enumerate(range(0, rows, chunk)):
        n = min(chunk, rows - start)
        pq.write_table(pa.table({
            "customer_id": rng.integers(0, max(rows // 10, 1), n),
            "segment": np.array(SEGMENTS)[rng.integers(0, 12, n)],
            "spend": rng.gamma(2.0, 30.0, n),
        }), data / f"part-{i:03d}.parquet")
    (folder / "rows").write_text(str(rows))


def catalog():
    values = ", ".join(f'"{s}"' for s in SEGMENTS)
    path = folder / "privagg.toml"
    path.write_text(f"""[ledger]
path = "ledger.db"
[[analysts]]
name = "bench"
epsilon = 1000000.0
[[tables]]
name = "purchases"
path = "{folder / 'purchases'}"
privacy_unit = "customer_id"
max_rows_per_group = 5
[tables.columns.spend]
lower = 0.0
upper = 500.0
[tables.columns.segment]
public_values = [{values}]
""")
    return path


def wait_port(port):
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def peak_rss_mib(pid):
    text = pathlib.Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1)) / 1024


SQL = "SELECT segment, COUNT(*) AS n, SUM(spend) AS total, AVG(spend) AS avg_spend FROM purchases GROUP BY segment"


def query(cat, engine, wrap=()):
    cmd = [*wrap, "/usr/bin/time", "-f", "maxrss %M", binary, "query", "--catalog", str(cat), "--analyst", "bench",
           "--epsilon", "1", "--format", "json", "--engine", engine, SQL]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"{engine}: {done.stderr}")
    rss = int(re.search(r"maxrss (\d+)", done.stderr).group(1)) / 1024
    return elapsed, rss


def socket_bytes(cat, engine):
    trace = folder / f"strace-{engine.replace('/', '_').replace(':', '_')}.txt"
    query(cat, engine, ("strace", "-f", "-yy", "-s", "0", "-e", "trace=read,readv,recvfrom,recvmsg", "-o", str(trace)))
    by_peer = {}
    pattern = re.compile(r"(?:read|readv|recvfrom|recvmsg)\(\d+<TCP(?:v6)?:\[[^\]]*->[^\]]*:(\d+)\]>.*= (\d+)$")
    for line in trace.read_text().splitlines():
        m = pattern.search(line)
        if m:
            by_peer[int(m.group(1))] = by_peer.get(int(m.group(1)), 0) + int(m.group(2))
    trace.unlink()
    return by_peer


def main():
    folder.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    generate()
    print(f"data: {rows:,} rows in {time.perf_counter() - t:.0f} s, "
          f"{sum(f.stat().st_size for f in (folder / 'purchases').glob('*.parquet')) / 2**20:.0f} MiB of Parquet")
    cat = catalog()
    procs = []
    try:
        procs.append(subprocess.Popen([binary, "scheduler", "--bind", f"127.0.0.1:{SCHEDULER}"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(SCHEDULER)
        for port in EXECUTORS:
            procs.append(subprocess.Popen([binary, "executor", "--scheduler", f"127.0.0.1:{SCHEDULER}", "--bind",
                                           f"127.0.0.1:{port}", "--work-dir", str(folder / f"work-{port}")],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_port(port + 1)
        time.sleep(1)
        cluster = f"df://127.0.0.1:{SCHEDULER}"
        runs = {"local": [], "cluster": []}
        query(cat, "local")
        query(cat, cluster)
        for _ in range(3):
            for name, engine in (("local", "local"), ("cluster", cluster)):
                runs[name].append(query(cat, engine))
        local = statistics.median(r[0] for r in runs["local"])
        for name, r in runs.items():
            m = statistics.median(x[0] for x in r)
            print(f"{name:8s} median {m:.2f} s ({m / local:.2f}x local)  runs {[round(x[0], 2) for x in r]}  "
                  f"client peak RSS {max(x[1] for x in r):.0f} MiB")
        print(f"scheduler peak RSS {peak_rss_mib(procs[0].pid):.0f} MiB; executors "
              f"{', '.join(f'{peak_rss_mib(p.pid):.0f}' for p in procs[1:])} MiB")
        for name, engine in (("local", "local"), ("cluster", cluster)):
            peers = socket_bytes(cat, engine)
            print(f"{name:8s} bytes the client read from sockets, by peer port: {peers or 'none'}")
        print(f"rows/s: local {rows / local:,.0f}; cluster "
              f"{rows / statistics.median(x[0] for x in runs['cluster']):,.0f}")
    finally:
        for p in procs:
            p.send_signal(signal.SIGKILL)
            p.wait()


if __name__ == "__main__":
    main()
