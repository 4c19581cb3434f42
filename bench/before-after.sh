#!/usr/bin/env bash
# One bench on two commits, alternately (A B A B …) on this machine, so that other jobs disturb both
# alike: read the ratios to hello side by side, never absolute figures of different runs.
# Usage: bench/before-after.sh BEFORE AFTER [BENCH] [ROUNDS]   e.g. bench/before-after.sh 1234a6a HEAD http 2
# BENCH is a bench:* script name (http, redis-http, …); ROUNDS runs of each commit (2). BENCH_* knobs
# pass through. Each commit is built in a git worktree under $BENCH_WORKTREES (a new temp dir by
# default), with this checkout's node_modules when the lockfiles match; generated data is shared when
# src/sim/ matches. Both commits run this checkout's bench/ (the harness), so that only the server
# code differs. Prints one summary line per run; worktrees made here are removed at the end.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '4,5p' "$0"; exit 2; }
root=$(git rev-parse --show-toplevel)
a=$(git -C "$root" rev-parse --short "$1") b=$(git -C "$root" rev-parse --short "$2")
bench=${3:-http} rounds=${4:-2}
base=${BENCH_WORKTREES:-$(mktemp -d /tmp/offerloop-before-after-XXXX)}
made=()
cleanup() { for d in "${made[@]}"; do git -C "$root" worktree remove --force "$d"; done; }
trap cleanup EXIT
mkdir -p "$base/data"
for c in "$a" "$b"; do
  d="$base/$c"
  if [ ! -d "$d" ]; then git -C "$root" worktree add --detach "$d" "$c" >/dev/null; made+=("$d"); fi
  (cd "$root" && git ls-files -co --exclude-standard bench | tar -cf - -T -) | tar -C "$d" -xf -
  if git -C "$root" diff --quiet "$c" -- package-lock.json; then ln -sfn "$root/node_modules" "$d/node_modules"
  else (cd "$d" && npm ci --no-audit --no-fund >/dev/null); fi
  if git -C "$root" diff --quiet "$a" "$b" -- src/sim ':(exclude)*.test.ts'; then
    mkdir -p "$d/bench/results" && ln -sfn "$base/data" "$d/bench/results/data"
  fi
  (cd "$d" && npx tsc -p tsconfig.build.json)
done
for n in $(seq 1 "$rounds"); do
  for c in "$a" "$b"; do
    echo "before-after: $bench on $c, run $n" >&2
    (cd "$base/$c" && node "dist/bench/$bench.bench.js" >"$base/$bench-$c-$n.out") || echo "exit $? ($c run $n)" >&2
    node -e '
      const [file, commit, n] = process.argv.slice(1);
      const j = JSON.parse(require("fs").readFileSync(file, "utf8").trim().split("\n").pop());
      console.log(JSON.stringify({ bench: j.bench, commit, run: Number(n), date: j.date, reqPerSec: j.reqPerSec,
        ratio: j.ratio, cpuUsPerReq: j.cpuUsPerReq, cpuRatio: j.cpuRatio, failed: j.failed, problems: j.problems }));
    ' "$base/$bench-$c-$n.out" "$c" "$n" || echo "no JSON line from $c run $n" >&2
  done
done
