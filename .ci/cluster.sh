#!/usr/bin/env bash
# A Ballista cluster of privagg processes on 127.0.0.1: one scheduler, two
# executors. A DP query (--engine) and an export (the catalog's [engine])
# through it; an executor SIGKILLed during a query (Ballista reschedules
# its tasks, or the query fails after its one charge); the scheduler down
# (refused before any charge). Every process is stopped whatever happens.
# Usage: .ci/cluster.sh PRIVAGG_BINARY
set -euo pipefail
bin=$(realpath "$1")
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 150); do
    if (echo > "/dev/tcp/127.0.0.1/$1") 2> /dev/null; then return 0; fi
    sleep 0.2
  done
  echo "nothing listens on port $1"; cat "$work"/*.log; exit 1
}
spent() {
  "$bin" budget --catalog "$work/shop/privagg.toml" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["spent"]["epsilon"])'
}

"$bin" generate --customers 300000 --out "$work/shop" > /dev/null
"$bin" scheduler --bind 127.0.0.1:50150 --executor-timeout 10 > "$work/scheduler.log" 2>&1 &
pids+=($!)
wait_port 50150
"$bin" executor --scheduler 127.0.0.1:50150 --bind 127.0.0.1:50161 --work-dir "$work/e1" > "$work/e1.log" 2>&1 &
pids+=($!)
"$bin" executor --scheduler 127.0.0.1:50150 --bind 127.0.0.1:50171 --work-dir "$work/e2" > "$work/e2.log" 2>&1 &
victim=$!
pids+=($victim)
wait_port 50162
wait_port 50172
sleep 1

echo "-- a DP query through the cluster (--engine)"
sql="SELECT segment, COUNT(*) AS n, AVG(spend) AS avg_spend FROM purchases GROUP BY segment"
"$bin" query --catalog "$work/shop/privagg.toml" --engine df://127.0.0.1:50150 --epsilon 0.5 "$sql" > "$work/q1.txt"
grep -q bronze "$work/q1.txt" && grep -q "charged epsilon 0.5" "$work/q1.txt" || { cat "$work/q1.txt"; exit 1; }
# Both executors ran tasks (shuffle files in both work folders).
[ -n "$(find "$work/e1" -name '*.arrow' | head -1)" ] && [ -n "$(find "$work/e2" -name '*.arrow' | head -1)" ] \
  || { echo "an executor ran nothing"; find "$work/e1" "$work/e2"; exit 1; }

echo "-- an export through the catalog's [engine]"
# A query waits at most 90 s for the cluster (then fails after its charge).
printf '\n[engine]\nkind = "ballista"\nscheduler = "df://127.0.0.1:50150"\ntimeout_seconds = 90\n' >> "$work/shop/privagg.toml"
cat > "$work/shop/job.toml" <<EOF
analyst = "alice"
epsilon = 1.0
[[queries]]
name = "segments"
sql = "$sql"
[[queries]]
name = "regions"
sql = "SELECT region, COUNT(*) AS n FROM purchases GROUP BY region"
EOF
"$bin" export "$work/shop/job.toml" --out "$work/export" > "$work/export.txt"
[ -s "$work/export/segments.parquet" ] || [ -s "$work/export/segments.csv" ] || { ls "$work/export"; cat "$work/export.txt"; exit 1; }

echo "-- an executor SIGKILLed during a query"
before=$(spent)
timeout -s KILL 300 "$bin" query --catalog "$work/shop/privagg.toml" --epsilon 0.25 \
  "SELECT segment, region, COUNT(*) AS n, MEDIAN(spend) AS m FROM purchases GROUP BY segment, region" \
  > "$work/q2.txt" 2> "$work/q2.err" &
query=$!
sleep 3
kill -KILL "$victim"
status=0
wait "$query" || status=$?
after=$(spent)
case $status in
  0) grep -q "charged epsilon 0.25" "$work/q2.txt" || { cat "$work/q2.txt"; exit 1; }
     echo "   the cluster rescheduled the lost executor's tasks: released" ;;
  1) grep -q "after the budget was charged" "$work/q2.err" || { cat "$work/q2.err"; exit 1; }
     echo "   the query failed after its charge (the cluster lost the executor's work, or the 90 s [engine] timeout):"
     echo "   $(cat "$work/q2.err")" ;;
  *) echo "unexpected exit $status"; cat "$work/q2.err"; exit 1 ;;
esac
python3 -c "import sys; b, a = map(float, sys.argv[1:]); sys.exit(0 if abs(a - b - 0.25) < 1e-9 else f'charged {a - b}, not 0.25 once')" "$before" "$after"
"$bin" audit --catalog "$work/shop/privagg.toml" verify > /dev/null

echo "-- the scheduler down: refused before any charge"
kill -KILL "${pids[0]}"
sleep 0.5
if "$bin" query --catalog "$work/shop/privagg.toml" "$sql" > /dev/null 2> "$work/q3.err"; then echo "a query ran without a scheduler"; exit 1; fi
grep -q "no Ballista scheduler at df://127.0.0.1:50150" "$work/q3.err" && grep -q "nothing was charged" "$work/q3.err" \
  || { cat "$work/q3.err"; exit 1; }
[ "$(spent)" = "$after" ] || { echo "charged without a scheduler"; exit 1; }
"$bin" audit --catalog "$work/shop/privagg.toml" verify > /dev/null
echo "cluster: query, export, executor killed, scheduler down: as documented; the audit verifies"
