#!/usr/bin/env bash
# #13 bench: a Dockerfile with a sandboxed `RUN` (the dbt-venv pattern) on a Debian
# python3 base, built by airlock cold (empty store) and warm (after a DAG edit), and
# by `buildah bud --isolation chroot --layers` of the same Dockerfile on the same base
# (read from the OCI layout with `FROM oci:`), cold and warm the same way.
#
# The venv step is `python3 -m venv --without-pip` plus a script run in the venv: the
# bench is offline, and the base (mmdebstrap minbase + python3) has no pip, so no
# package is installed into it (dbt itself needs an index and network).
#
# Run: benches/dockerfile_steps.sh [ROUNDS]   (as root; needs bwrap and buildah,
# installed with apt when missing). AIRLOCK (default target/debug/airlock, built
# with `cargo build` first) and BASE_LAYOUT (default: the tests' cached python3
# layout, target/tmp/python-real/base-layout) may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
airlock=${AIRLOCK:-$PWD/target/debug/airlock}
base=${BASE_LAYOUT:-$PWD/target/tmp/python-real/base-layout}
[ -x "$airlock" ] || cargo build --quiet
command -v buildah >/dev/null || apt-get install -y buildah >/dev/null
[ -f "$base/index.json" ] || { echo "no base layout at $base (run tests/python_real.rs once, or set BASE_LAYOUT)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000

# The step (the same text for both tools).
run_step='RUN python3 -m venv --without-pip /opt/project/dbt_venv \
    && /opt/project/dbt_venv/bin/python -c "import sys, json; print(json.dumps({\"prefix\": sys.prefix}))" > /opt/project/dbt_venv/prefix.json'

project() { # DIR FROM
    mkdir -p "$1/dags"
    printf 'FROM %s\n%s\n' "$2" "$run_step" > "$1/Dockerfile"
    for i in $(seq 1 200); do echo "x = $i" > "$1/dags/dag_$i.py"; done
    printf '.git\n' > "$1/.dockerignore"
}
# buildah needs the DAGs copied explicitly (airlock's base ONBUILD would do it).
buildah_project() { # DIR
    project "$1" "oci:$base:bookworm"
    echo 'COPY dags/ /opt/project/dags/' >> "$1/Dockerfile"
}

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }

airlock_round() {
    local dir=$work/airlock-$1
    project "$dir/p" "e2e/python:bookworm"
    local t=$(now)
    "$airlock" build "$dir/p" --cache-dir "$dir/store" --base-layout "$base" -q >/dev/null
    local cold=$(elapsed "$t")
    "$airlock" build "$dir/p" --cache-dir "$dir/store" --base-layout "$base" -q >/dev/null
    echo "x = 'edited $1'" > "$dir/p/dags/dag_7.py"
    t=$(now)
    "$airlock" build "$dir/p" --cache-dir "$dir/store" --base-layout "$base" -q >/dev/null
    local warm=$(elapsed "$t")
    echo "$cold $warm"
    rm -rf "$dir"
}

buildah_round() {
    local dir=$work/buildah-$1
    buildah_project "$dir/p"
    local driver=${BUILDAH_DRIVER:-vfs}
    local b=(buildah --root "$dir/root" --runroot "$dir/runroot" --storage-driver "$driver")
    local t=$(now)
    "${b[@]}" bud --isolation chroot --layers -q -t bench "$dir/p" >/dev/null
    local cold=$(elapsed "$t")
    echo "x = 'edited $1'" > "$dir/p/dags/dag_7.py"
    t=$(now)
    "${b[@]}" bud --isolation chroot --layers -q -t bench "$dir/p" >/dev/null
    local warm=$(elapsed "$t")
    echo "$cold $warm"
    "${b[@]}" rmi -a -f >/dev/null 2>&1 || true
    rm -rf "$dir"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

: > "$work/a" ; : > "$work/b"
for r in $(seq 1 "$rounds"); do
    airlock_round "$r" >> "$work/a"
    buildah_round "$r" >> "$work/b"
done
ac=$(cut -d' ' -f1 "$work/a" | median); aw=$(cut -d' ' -f2 "$work/a" | median)
bc_=$(cut -d' ' -f1 "$work/b" | median); bw=$(cut -d' ' -f2 "$work/b" | median)
printf 'rounds: %s (medians, seconds)\n' "$rounds"
printf '%-34s %10s %10s\n' "" cold "warm(DAG edit)"
printf '%-34s %10.2f %10.3f\n' "airlock (debug build)" "$ac" "$aw"
printf '%-34s %10.2f %10.3f\n' "buildah bud --isolation chroot" "$bc_" "$bw"
printf 'cold: airlock/buildah = %.2f; warm: buildah/airlock = %.1fx\n' \
    "$(echo "$ac / $bc_" | bc -l)" "$(echo "$bw / $aw" | bc -l)"
