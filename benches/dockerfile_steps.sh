#!/usr/bin/env bash
# #13 bench: the dbt-venv project (the Astro/Cosmos pattern) built by airlock and by
# `buildah bud --isolation chroot --layers` of the same Dockerfile on the same base.
#
#   FROM <Debian bookworm + python3 + python3-venv + python-is-python3>
#   SHELL ["/bin/bash", "-c"]
#   RUN python -m venv dbt_venv && source dbt_venv/bin/activate && pip install --no-cache-dir $PINS && deactivate
#
# airlock carries the RUN out natively (the VENV idiom: no process runs); buildah runs
# it (ensurepip, then pip downloading and installing). Debian's /bin/sh is dash, where
# `source` does not exist: the Dockerfile says `SHELL ["/bin/bash", "-c"]` (airlock's
# grammar takes `/bin/bash -c`), and buildah needs `--format docker` to honour SHELL.
# `python` is on PATH through python-is-python3 in the base.
#
# Figures (seconds, medians of ROUNDS rounds):
#   airlock cold, no lock    empty store, no airlock.lock: resolution + downloads + layers
#   airlock cold, locked     empty store, the lock present: downloads + layers
#   airlock warm             after a DAG edit (one file of 200), store warm
#   buildah cold             empty storage (the base is imported from the layout too)
#   buildah warm             after the same DAG edit, `--layers` cache warm
#   + push                   the same, plus `buildah push` of the image to an OCI layout
# airlock writes an OCI layout each time; `buildah bud` only commits into its storage,
# so the `+ push` row is the like-for-like one (both end with an OCI layout).
#
# Run: benches/dockerfile_steps.sh [ROUNDS]   (as root; needs buildah, mmdebstrap for
# the base once, umoci + bwrap for the check). Environment:
#   AIRLOCK        the binary (default target/release/airlock)
#   BASE_LAYOUT    an OCI layout with tag `bookworm` (default: made once with mmdebstrap
#                  from the host's apt sources under target/tmp/bench13/base-layout)
#   PINS           what pip installs (default below; see the note there)
#   BUILDAH_DRIVER storage driver (default overlay)
# The index is the host pip's: PIP_INDEX_URL, else `pip config get global.index-url`,
# else the host pip's built-in default (asked at run time, never written here). airlock
# gets it as PIP_INDEX_URL in its own environment (not the step's); buildah's pip gets it
# from a pip.conf mounted at /etc/pip.conf for the build only, with the host's CA bundle
# mounted over /etc/ssl/certs/ca-certificates.crt (HTTPS may go through a proxy whose CA
# is only in the host's store). Neither changes the Dockerfile or the base.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
airlock=${AIRLOCK:-$PWD/target/release/airlock}
[ -x "$airlock" ] || { echo "no airlock binary at $airlock (cargo build --release, or set AIRLOCK)"; exit 1; }
# `pip install dbt-postgres==1.8.2` alone no longer resolves to wheels: dbt-postgres asks
# for `dbt-core>=1.8.0a1`; pip (a pre-release in the specifier allows pre-releases) takes
# dbt-core 2.0.0rc9, an sdist whose build downloads from the network and fails; airlock
# (pre-releases only when named for that package, as uv) takes dbt-core 1.12.6, which
# needs dbt-core-experimental-parser, published as an sdist only, and a `RUN pip`
# idiom installs wheels only. dbt-core 1.8.x needs logbook<1.6 (sdists only) as well.
# So dbt-core is pinned to the newest 1.11 release, whose closure is all wheels.
pins=${PINS:-dbt-core==1.11.16 dbt-postgres==1.8.2}
driver=${BUILDAH_DRIVER:-overlay}
command -v buildah >/dev/null || apt-get install -y buildah >/dev/null
export SOURCE_DATE_EPOCH=1700000000

# The host pip's index.
index=${PIP_INDEX_URL:-$(pip config get global.index-url 2>/dev/null || true)}
[ -n "$index" ] || index=$(python3 -c 'from pip._internal.models.index import PyPI; print(PyPI.simple_url)')
ca=/etc/ssl/certs/ca-certificates.crt

# make_layout TAR LAYOUT TAG WORKDIR: a one-layer linux/amd64 image of the rootfs TAR.
make_layout() {
    local tar=$1 layout=$2 tag=$3 workdir=$4 tmp=$2.partial
    rm -rf "$tmp"; mkdir -p "$tmp/blobs/sha256"
    local layer size config csize manifest msize
    layer=$(sha256sum "$tar" | cut -d' ' -f1); size=$(stat -c %s "$tar")
    cp "$tar" "$tmp/blobs/sha256/$layer"
    printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"WorkingDir":"%s","Cmd":["/bin/bash"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"mmdebstrap"}]}' \
        "$workdir" "$layer" > "$tmp/config.json"
    config=$(sha256sum "$tmp/config.json" | cut -d' ' -f1); csize=$(stat -c %s "$tmp/config.json")
    mv "$tmp/config.json" "$tmp/blobs/sha256/$config"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
        "$config" "$csize" "$layer" "$size" > "$tmp/manifest.json"
    manifest=$(sha256sum "$tmp/manifest.json" | cut -d' ' -f1); msize=$(stat -c %s "$tmp/manifest.json")
    mv "$tmp/manifest.json" "$tmp/blobs/sha256/$manifest"
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
        "$manifest" "$msize" "$tag" > "$tmp/index.json"
    printf '{"imageLayoutVersion":"1.0.0"}' > "$tmp/oci-layout"
    rm -rf "$layout"; mv "$tmp" "$layout"
}

if [ -z "${BASE_LAYOUT:-}" ]; then
    cache=$PWD/target/tmp/bench13
    BASE_LAYOUT=$cache/base-layout
    if [ ! -f "$BASE_LAYOUT/index.json" ]; then
        mkdir -p "$cache"
        if [ ! -f "$cache/base.tar" ]; then
            mmdebstrap --variant=minbase --quiet --format=tar \
                --include=python3,python3-venv,python-is-python3 bookworm "$cache/base.partial.tar"
            mv "$cache/base.partial.tar" "$cache/base.tar"
        fi
        make_layout "$cache/base.tar" "$BASE_LAYOUT" bookworm /usr/local/airflow
    fi
fi
base=$BASE_LAYOUT
[ -f "$base/index.json" ] || { echo "no base layout at $base"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The project: the Dockerfile and 200 DAGs. airlock adds the project files and the DAGs
# itself (its own layers); buildah gets the same with an explicit COPY at the end.
step="RUN python -m venv dbt_venv && source dbt_venv/bin/activate && pip install --no-cache-dir $pins && deactivate"
project() { # DIR FROM
    mkdir -p "$1/dags"
    printf 'FROM %s\nSHELL ["/bin/bash", "-c"]\n%s\n' "$2" "$step" > "$1/Dockerfile"
    for i in $(seq 1 200); do echo "x = $i" > "$1/dags/dag_$i.py"; done
    printf '.git\n' > "$1/.dockerignore"
}
buildah_project() { # DIR
    project "$1" "oci:$base:bookworm"
    echo 'COPY . /usr/local/airflow/' >> "$1/Dockerfile"
}

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }

# airlock DIR STORE: one build into DIR/out.
airlock_build() {
    PIP_INDEX_URL=$index "$airlock" build "$1/p" --cache-dir "$2" --base-layout "$base" \
        --output "oci:$1/out:latest" -q >/dev/null
}

# Prints "cold-nolock cold-locked warm"; keeps the first round's image for the check.
airlock_round() {
    local dir=$work/airlock-$1 t cold cold_locked warm
    project "$dir/p" "debian-python:bookworm"
    t=$(now); airlock_build "$dir" "$dir/store"; cold=$(elapsed "$t")
    rm -rf "$dir/store" "$dir/out"
    t=$(now); airlock_build "$dir" "$dir/store"; cold_locked=$(elapsed "$t")
    airlock_build "$dir" "$dir/store"
    echo "x = 'edited $1'" > "$dir/p/dags/dag_7.py"
    t=$(now); airlock_build "$dir" "$dir/store"; warm=$(elapsed "$t")
    echo "$cold $cold_locked $warm"
    if [ "$1" = 1 ]; then mv "$dir/out" "$work/image"; cp "$dir/p/airlock.lock" "$work/airlock.lock"; fi
    rm -rf "$dir"
}

buildah_round() {
    local dir=$work/buildah-$1 t cold warm cold_push warm_push
    buildah_project "$dir/p"
    printf '[global]\nindex-url = %s\ncert = %s\n' "$index" "$ca" > "$dir/pip.conf"
    local b=(buildah --root "$dir/root" --runroot "$dir/runroot" --storage-driver "$driver")
    local bud=(bud --format docker --isolation chroot --layers -q -t bench
        -v "$dir/pip.conf:/etc/pip.conf:ro" -v "$ca:$ca:ro" "$dir/p")
    local push=(push -q bench "oci:$dir/out:latest")
    t=$(now); "${b[@]}" "${bud[@]}" >/dev/null; cold=$(elapsed "$t")
    "${b[@]}" "${push[@]}" >/dev/null; cold_push=$(elapsed "$t")
    echo "x = 'edited $1'" > "$dir/p/dags/dag_7.py"
    t=$(now); "${b[@]}" "${bud[@]}" >/dev/null; warm=$(elapsed "$t")
    "${b[@]}" "${push[@]}" >/dev/null; warm_push=$(elapsed "$t")
    echo "$cold $warm $cold_push $warm_push"
    if [ "$1" = 1 ]; then
        "${b[@]}" run --isolation chroot "$("${b[@]}" from bench)" \
            /usr/local/airflow/dbt_venv/bin/pip freeze > "$work/buildah-freeze" 2>/dev/null || true
    fi
    "${b[@]}" rm -a >/dev/null 2>&1 || true
    "${b[@]}" rmi -a -f >/dev/null 2>&1 || true
    rm -rf "$dir"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "load before: $(uptime)"
: > "$work/a"; : > "$work/b"
for r in $(seq 1 "$rounds"); do
    airlock_round "$r" >> "$work/a"
    buildah_round "$r" >> "$work/b"
    echo "round $r: airlock $(tail -1 "$work/a"); buildah $(tail -1 "$work/b"); $(uptime | sed 's/.*load/load/')"
done
echo "load after: $(uptime)"

# The check: the airlock image runs `dbt --version` from the venv under bubblewrap, with
# no network, and imports dbt from the venv only; its pins match what buildah's pip chose.
check="not run (umoci or bwrap missing)"; version= where=
if command -v umoci >/dev/null && command -v bwrap >/dev/null; then
    umoci unpack --image "$work/image:latest" "$work/bundle" >/dev/null 2>&1
    root=$work/bundle/rootfs
    inside() { bwrap --bind "$root" / --proc /proc --dev /dev --unshare-all --chdir /usr/local/airflow "$@"; }
    if version=$(inside /usr/local/airflow/dbt_venv/bin/dbt --version 2>&1) \
        && where=$(inside /usr/local/airflow/dbt_venv/bin/python -c \
            'import dbt.adapters.postgres as p, sys; print(p.__file__); print(sys.prefix)'); then
        check="ok: $(echo "$version" | grep -m1 installed | tr -s ' '); postgres $(echo "$version" \
            | grep -m1 'postgres:' | sed 's/.*postgres: \([^ ]*\).*/\1/'); from $(echo "$where" | head -1)"
    else
        check="FAILED: $version $where"
    fi
    if [ -s "$work/buildah-freeze" ]; then
        norm() { tr 'A-Z_' 'a-z-' | sed 's/==*/=/' | sort; }
        pinned=$(grep -A1 '^name = ' "$work/airlock.lock" | grep -o '"[^"]*"' | tr -d '"' \
            | paste -d= - - | norm)
        frozen=$(norm < "$work/buildah-freeze")
        differ=$(comm -3 <(echo "$pinned") <(echo "$frozen") | tr '\n\t' '  ')
        if [ -z "$differ" ]; then
            check="$check; the same $(echo "$frozen" | wc -l) distributions as buildah's pip"
        else
            check="$check; differs from buildah's pip (airlock | buildah): $differ"
        fi
    fi
fi

ac=$(cut -d' ' -f1 "$work/a" | median); al=$(cut -d' ' -f2 "$work/a" | median)
aw=$(cut -d' ' -f3 "$work/a" | median)
bc_=$(cut -d' ' -f1 "$work/b" | median); bw=$(cut -d' ' -f2 "$work/b" | median)
bcp=$(cut -d' ' -f3 "$work/b" | median); bwp=$(cut -d' ' -f4 "$work/b" | median)
printf '\nrounds: %s (medians, seconds); airlock %s; buildah %s (%s)\n' "$rounds" "$airlock" \
    "$(buildah --version | cut -d' ' -f3)" "$driver"
printf 'step: %s\n' "$step"
printf '%-36s %12s %12s %14s\n' "" "cold, no lock" "cold, locked" "warm(DAG edit)"
printf '%-36s %12.2f %12.2f %14.3f\n' "airlock" "$ac" "$al" "$aw"
printf '%-36s %12.2f %12s %14.3f\n' "buildah bud --isolation chroot" "$bc_" "-" "$bw"
printf '%-36s %12.2f %12s %14.3f\n' "  + buildah push oci:" "$bcp" "-" "$bwp"
printf 'cold: airlock/buildah = %.2f (no lock), %.2f (locked); warm: buildah/airlock = %.1fx\n' \
    "$(echo "$ac / $bc_" | bc -l)" "$(echo "$al / $bc_" | bc -l)" "$(echo "$bw / $aw" | bc -l)"
printf 'with push: cold airlock/buildah = %.2f (no lock); warm buildah/airlock = %.1fx\n' \
    "$(echo "$ac / $bcp" | bc -l)" "$(echo "$bwp / $aw" | bc -l)"
printf 'check: %s\n' "$check"
