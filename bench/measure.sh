#!/usr/bin/env bash
# Runs every command of the README's Performance section (the indented
# lines that run `go test`) RUNS times (default 3) and prints, for each
# figure they report (a benchmark line's value and unit), its minimum,
# median and maximum over all the runs, so that the README's ranges can be
# filled from one sitting on a quiet machine.
#
#   bench/measure.sh                 # every command, 3 times
#   RUNS=5 bench/measure.sh Clone    # only the commands matching "Clone"
#
# A command fails when a benchmark misses its target: the failure is
# reported after its figures, and the script goes on with the next run.
# The raw output of every run is kept in $OUT (default: a new temporary
# directory). Commands that need PostgreSQL measure it only when
# CIWARDEN_TEST_POSTGRES_URL is set; the script says so.
set -uo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-3}
filter=${1:-}
out=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/ciwarden-measure-XXXXXX")}
mkdir -p "$out"

mapfile -t commands < <(awk '/^## Performance/{on=1; next} /^## /{on=0} on' README.md |
	sed -n 's/^    \(.*go test .*\)$/\1/p')
if [ ${#commands[@]} -eq 0 ]; then
	echo "measure.sh: no command found in the README's Performance section" >&2
	exit 1
fi
if [ -z "${CIWARDEN_TEST_POSTGRES_URL:-}" ]; then
	echo "note: CIWARDEN_TEST_POSTGRES_URL is not set: the PostgreSQL variants are skipped" >&2
fi

status=0
for i in "${!commands[@]}"; do
	cmd=${commands[$i]}
	if [ -n "$filter" ] && [[ "$cmd" != *"$filter"* ]]; then
		continue
	fi
	echo
	echo "== $cmd"
	failed=()
	for run in $(seq 1 "$runs"); do
		log="$out/cmd$i-run$run.txt"
		if ! bash -c "$cmd" >"$log" 2>&1; then
			failed+=("run $run")
			status=1
		fi
	done
	# A result line: Benchmark<name> <count> then "<value> <unit>" pairs.
	cat "$out"/cmd"$i"-run*.txt | awk '
		$1 ~ /^Benchmark/ && $2 ~ /^[0-9]+$/ {
			for (f = 3; f + 1 <= NF; f += 2) {
				if ($f !~ /^[-+0-9.eE]+$/) break
				key = $1 "\t" $(f + 1)
				if (!(key in n)) order[++keys] = key
				vals[key, ++n[key]] = $f + 0
			}
		}
		END {
			printf "%-60s %-22s %12s %12s %12s %4s\n", "benchmark", "unit", "min", "median", "max", "n"
			for (k = 1; k <= keys; k++) {
				key = order[k]; c = n[key]
				for (a = 1; a <= c; a++) v[a] = vals[key, a]
				for (a = 2; a <= c; a++) for (b = a; b > 1 && v[b-1] > v[b]; b--) { t = v[b]; v[b] = v[b-1]; v[b-1] = t }
				med = (c % 2) ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
				split(key, p, "\t")
				printf "%-60s %-22s %12.4g %12.4g %12.4g %4d\n", p[1], p[2], v[1], med, v[c], c
			}
		}'
	if [ ${#failed[@]} -gt 0 ]; then
		echo "FAILED (${failed[*]}): a target was missed or the command failed; see $out/cmd$i-run*.txt"
		grep -h "target missed\|--- FAIL" "$out"/cmd"$i"-run*.txt | sort | uniq -c | sed 's/^/    /'
	fi
done
echo
echo "raw output: $out"
exit $status
