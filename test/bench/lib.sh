# Shared helpers for *.bench.sh parts (sourced, not run): timing, medians and table rows.

# measure OUT_PREFIX CMD...: runs CMD once, appends wall ms to OUT_PREFIX.ms and peak RSS KiB to OUT_PREFIX.kb.
measure() {
  local prefix=$1; shift
  local tfile start end
  tfile=$(mktemp)
  start=$(date +%s%N)
  /usr/bin/time -f '%M' -o "$tfile" "$@" >/dev/null 2>&1 || true # a rejection (exit 1) is an expected outcome
  end=$(date +%s%N)
  echo $(( (end - start) / 1000000 )) >>"$prefix.ms"
  tail -n 1 "$tfile" >>"$prefix.kb"
  rm -f "$tfile"
}

# median FILE: prints the median of the numbers in FILE.
median() { sort -n "$1" | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# ratio A B: prints A/B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print "n/a"; else printf "%.2f", a/b}'; }

# verdict VALUE LIMIT: "met" when VALUE <= LIMIT, else "MISSED".
verdict() { awk -v v="$1" -v l="$2" 'BEGIN {print (v <= l) ? "met" : "MISSED"}'; }

# row CASE OURS PEER RATIO TARGET: prints one table row.
row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }
