#!/usr/bin/env bash
# #15's table from one run: every figure with its anchor, measured side by side on this
# machine, then the targets. Rows:
#
#   sample project (200 DAGs, 33 wheels / ~56 MB, the Debian python3 base, gzip):
#     cold build → OCI layout      vs `buildah bud --no-cache` + `buildah push oci:`
#     rebuild after one DAG edit   vs `buildah bud --layers` + `buildah push oci:`
#     first push to a registry     vs `skopeo copy` (docker-registry on 127.0.0.1)
#   the Airflow 3 set (apache-airflow 3.0.2, two providers, pandas):
#     lock, warm                   vs `uv pip compile`, warm
#     Python layer, warm store     vs `uv pip install --target` (warm) + `tar -c | gzip -6`
#     ... after adding one small requirement (target < 0.5 s)
#   openjdk-17-jre-headless:
#     Debian layer, cached .debs   vs `dpkg-deb -x` of the same .debs + `tar -c | gzip -6`
#   peak RSS (`/usr/bin/time -v`) of a build of an image > 1 GB uncompressed
#     (openjdk + the Airflow 3 set, plus BIG_EXTRA_PACKAGES to pass 1 GB)
#
# The Python index is the host pip's, asked of pip at run time (no address is written
# here). buildah installs the same pinned wheels with pip (run from its own wheel, since
# the Debian base has no pip) inside its chroot, from the same index, with the host's CA
# bundle bind-mounted (HTTPS may go through a proxy whose CA is only in the system
# store). Layer work is forced without network by a new SOURCE_DATE_EPOCH per round
# (the layer keys depend on it; the wheels and .debs stay in the store).
#
# Run (as root): benches/perf_targets.sh
# Environment: AIRLOCK (default target/release/airlock), ROUNDS (3: medians),
# BASE_LAYOUT (default the tests' target/tmp/python-real/base-layout; made with
# mmdebstrap when missing), BUILDAH_DRIVER (overlay), PROFILE=1 (perf record of one
# cold build, top symbols), BIG_EXTRA_PACKAGES (default openjdk-17-jdk-headless
# build-essential: with them the image is over 1 GB uncompressed).
# Downloads are cached under target/tmp/perf-targets (a re-run is fast); each run adds
# about 1 GB of layers built at fresh epochs to store-warm there (`airlock cache gc`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
airlock=${AIRLOCK:-$root/target/release/airlock}
rounds=${ROUNDS:-3}
cache=$root/target/tmp/perf-targets
base_src=${BASE_LAYOUT:-$root/target/tmp/python-real/base-layout}
driver=${BUILDAH_DRIVER:-overlay}
big_extra=${BIG_EXTRA_PACKAGES-openjdk-17-jdk-headless build-essential}
exclude_newer=2025-07-01T00:00:00Z
[ -x "$airlock" ] || { echo "no airlock binary at $airlock (set AIRLOCK)"; exit 1; }
for tool in buildah skopeo docker-registry dpkg-deb /usr/bin/time python3 bc; do
    command -v "$tool" >/dev/null || { echo "missing: $tool"; exit 1; }
done
mkdir -p "$cache"
work=$(mktemp -d "$cache/run.XXXXXX")
registry_pid=
cleanup() {
    [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null
    for r in "$work"/broot*; do
        [ -d "$r" ] && buildah --root "$r" --runroot "$r.run" --storage-driver "$driver" \
            rmi -a -f >/dev/null 2>&1
    done
    rm -rf "$work"
}
trap cleanup EXIT

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
load1() { cut -d' ' -f1 /proc/loadavg; }
# timed FILE CMD...: runs CMD, appends "wall user+sys maxrss_kb" to FILE.
timed() {
    local file=$1; shift
    # A shell function runs in a child bash (exported below).
    [ "$(type -t "$1")" = function ] && set -- bash -c '"$@"' x "$@"
    local t=$(now)
    /usr/bin/time -f '%U %S %M' -o "$work/rusage" "$@" >"$work/last.out" 2>"$work/last.err" \
        || { cat "$work/last.err" >&2; return 1; }
    local wall=$(since "$t")
    read -r u s m <"$work/rusage"
    echo "$wall $(echo "$u + $s" | bc) $m" >>"$file"
}
col() { cut -d' ' -f"$2" "$1" | median; } # col FILE N: median of column N
epoch_seq=$(date +%s)
# A SOURCE_DATE_EPOCH not used before in this run (the layer keys depend on it).
fresh_epoch() { epoch_seq=$((epoch_seq - 1)); }

# ---------------------------------------------------------------- inputs
index=${PIP_INDEX_URL:-}
if [ -z "$index" ]; then
    index=$(python3 -m pip config list 2>/dev/null | sed -n "s/^[^=]*\.index-url='\?\([^']*\)'\?$/\1/p" | head -1)
fi
if [ -z "$index" ]; then
    index=$(python3 -c 'from pip._internal.models.index import PyPI; print(PyPI.simple_url)')
fi
ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}

# The base: the tests' Debian python3 layout, its layer gzip'd once (bases come
# compressed from registries), cached.
base=$cache/base-gz
if [ ! -f "$base/index.json" ]; then
    if [ ! -f "$base_src/index.json" ]; then
        log "making the Debian python3 base with mmdebstrap"
        tar=$cache/bookworm-python3.tar
        [ -f "$tar" ] || mmdebstrap --variant=minbase --quiet --format=tar --include=python3 bookworm "$tar"
        buildah --root "$work/broot-base" --runroot "$work/broot-base.run" --storage-driver vfs \
            from --name b scratch >/dev/null
        buildah --root "$work/broot-base" --runroot "$work/broot-base.run" --storage-driver vfs \
            add b "$tar" / >/dev/null
        buildah --root "$work/broot-base" --runroot "$work/broot-base.run" --storage-driver vfs \
            config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            --workingdir /opt/project b
        buildah --root "$work/broot-base" --runroot "$work/broot-base.run" --storage-driver vfs \
            commit -q b "oci:$base:bookworm" >/dev/null
    else
        skopeo copy -q --dest-compress "oci:$base_src:bookworm" "oci:$base:bookworm"
    fi
fi
base_gz=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(sum(l["size"] for l in m["layers"]))' \
    "$base/blobs/sha256/$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"][7:])' "$base/index.json")")

# pip, as a wheel run by the base's python3 inside buildah's chroot.
mkdir -p "$cache/pip"
ls "$cache"/pip/pip-*.whl >/dev/null 2>&1 || python3 -m pip download -q --no-deps -d "$cache/pip" pip
pip_whl=$(ls "$cache"/pip/pip-*.whl | head -1)

# uv, in a virtual environment (the tests' one when there is one).
uv=$root/target/tmp/python-real/uv-venv/bin/uv
if [ ! -x "$uv" ]; then
    uv=$cache/uv-venv/bin/uv
    [ -x "$uv" ] || { python3 -m venv "$cache/uv-venv" && "$cache/uv-venv/bin/pip" install -q uv; }
fi
export UV_PYTHON_DOWNLOADS=never

SAMPLE_REQUIREMENTS='pandas
requests
boto3
sqlalchemy
psycopg2-binary
pyyaml
pydantic
httpx
jinja2
click
tenacity
'
AIRFLOW_REQUIREMENTS='apache-airflow==3.0.2
apache-airflow-providers-http
apache-airflow-providers-postgres
pandas
'
# Small dependency-free distributions outside the Airflow set, one per round.
SMALL=(toolz xmltodict inflection)

dag() { # FILE N
    cat >"$1" <<EOF
from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule="@daily", start_date=datetime(2025, 1, 1), catchup=False, tags=["bench"])
def pipeline_$2():
    @task
    def extract():
        return list(range($2))

    @task
    def load(rows):
        print(len(rows))

    load(extract())


pipeline_$2()
EOF
}
project() { # DIR REQUIREMENTS PACKAGES DAGS
    mkdir -p "$1/dags" "$1/include" "$1/plugins"
    echo 'FROM bench/python:bookworm' >"$1/Dockerfile"
    printf '%s' "$2" >"$1/requirements.txt"
    printf '%s' "$3" >"$1/packages.txt"
    printf '[python]\nindex-url = "%s"\nexclude-newer = "%s"\n' "$index" "$exclude_newer" >"$1/airlock.toml"
    printf '.git\n.airlock\n' >"$1/.dockerignore"
    echo 'sample project' >"$1/README.md"
    echo 'SELECT 1;' >"$1/include/query.sql"
    for i in $(seq 1 "$4"); do dag "$1/dags/dag_$i.py" "$i"; done
}
al() { "$airlock" "$@" >/dev/null; }
pins() { # LOCK -> name==version lines
    python3 -c 'import sys,tomllib; [print(w["name"] + "==" + w["version"]) for w in tomllib.load(open(sys.argv[1],"rb")).get("wheels",[])]' "$1"
}
wheel_mb() {
    python3 -c 'import sys,tomllib; print(round(sum(w["size"] for w in tomllib.load(open(sys.argv[1],"rb")).get("wheels",[]))/1e6,1))' "$1"
}
layout_bytes() { # LAYOUT TAG -> "compressed uncompressed" bytes of the image's layers
    python3 - "$1" "$2" <<'EOF'
import json, subprocess, sys
d, tag = sys.argv[1], sys.argv[2]
idx = json.load(open(f"{d}/index.json"))
m = [m for m in idx["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
man = json.load(open(f"{d}/blobs/sha256/{m['digest'][7:]}"))
comp = unc = 0
for l in man["layers"]:
    p = f"{d}/blobs/sha256/{l['digest'][7:]}"
    comp += l["size"]
    tool = ["zstd", "-dc"] if l["mediaType"].endswith("zstd") else ["gzip", "-dc"] if l["mediaType"].endswith("gzip") else ["cat"]
    with subprocess.Popen(tool + [p], stdout=subprocess.PIPE) as proc:
        while chunk := proc.stdout.read(1 << 20):
            unc += len(chunk)
print(comp, unc)
EOF
}
uvc() {
    "$uv" pip compile -q --no-header --python-version 3.11 --python-platform x86_64-manylinux_2_36 \
        --index-url "$index" --exclude-newer "$exclude_newer" --cache-dir "$cache/uv-cache" \
        -o "$work/uv.txt" "$work/airflow.in"
}
uvi() { # DIR
    "$uv" pip install -q --no-deps --target "$1" --python-version 3.11 \
        --python-platform x86_64-manylinux_2_36 --index-url "$index" \
        --cache-dir "$cache/uv-cache" "${@:2}" -r "$work/af-pins.txt"
}
export -f al uvc uvi
export airlock uv index cache work exclude_newer
declare -A A B LOAD
row() { LOAD[$1]=$(load1); }

log "load at start: $(uptime)"
start_uptime=$(uptime)

# ---------------------------------------------------------------- sample project
sample=$work/sample
project "$sample" "$SAMPLE_REQUIREMENTS" "" 200
al lock "$sample" --base-layout "$base" --cache-dir "$cache/store-sample" -q
sample_wheels=$(pins "$sample/airlock.lock" | wc -l)
sample_mb=$(wheel_mb "$sample/airlock.lock")
log "sample: $sample_wheels wheels, $sample_mb MB; base $((base_gz / 1000000)) MB gzip"

# buildah's context: the same files, the pinned requirements, pip and the CA bundle.
bctx=$work/bctx
cp -a "$sample" "$bctx"
rm -f "$bctx/airlock.toml" "$bctx/airlock.lock"
pins "$sample/airlock.lock" >"$bctx/requirements.txt"
cp "$pip_whl" "$bctx/.pip.whl"
cp "$ca" "$bctx/.ca.crt"
printf '.git\n.airlock\n.pip.whl\n.ca.crt\nDockerfile\n' >"$bctx/.dockerignore"
cat >"$bctx/Dockerfile" <<EOF
FROM oci:$base:bookworm
WORKDIR /opt/project
ARG PIP_INDEX_URL
COPY requirements.txt /opt/project/requirements.txt
RUN --mount=type=bind,source=.pip.whl,target=/tmp/pip.whl \\
    --mount=type=bind,source=.ca.crt,target=/tmp/ca.crt \\
    PIP_CERT=/tmp/ca.crt python3 /tmp/pip.whl/pip install --no-cache-dir --no-compile \\
    --break-system-packages --root-user-action=ignore --disable-pip-version-check -q \\
    -r /opt/project/requirements.txt
COPY . /opt/project/
EOF

: >"$work/a.cold"; : >"$work/b.cold"; : >"$work/a.re"; : >"$work/b.re"
: >"$work/a.push"; : >"$work/b.push"
for r in $(seq 1 "$rounds"); do
    log "sample round $r: airlock cold"
    rm -rf "$work/store-cold" "$work/out-a"
    timed "$work/a.cold" al build "$sample" --locked --base-layout "$base" \
        --cache-dir "$work/store-cold" -o "oci:$work/out-a:latest" -q
    for e in 1 2 3; do
        echo "x = '$r.$e'" >>"$sample/dags/dag_7.py"
        timed "$work/a.re" al build "$sample" --locked --base-layout "$base" \
            --cache-dir "$work/store-cold" -o "oci:$work/out-a:latest" -q
    done

    log "sample round $r: buildah cold"
    broot=$work/broot$r
    bh=(buildah --root "$broot" --runroot "$broot.run" --storage-driver "$driver")
    rm -rf "$work/out-b"
    timed "$work/b.cold" bash -c '
        "${@:4}" bud --isolation chroot --no-cache --layers -q --build-arg "PIP_INDEX_URL=$1" -t bench "$2" >/dev/null &&
        "${@:4}" push -q bench "oci:$3:latest"' \
        x "$index" "$bctx" "$work/out-b" "${bh[@]}"
    for e in 1 2 3; do
        echo "x = '$r.$e'" >>"$bctx/dags/dag_7.py"
        timed "$work/b.re" bash -c '
            "${@:4}" bud --isolation chroot --layers -q --build-arg "PIP_INDEX_URL=$1" -t bench "$2" >/dev/null &&
            "${@:4}" push -q bench "oci:$3:latest"' \
            x "$index" "$bctx" "$work/out-b" "${bh[@]}"
    done
    "${bh[@]}" rmi -a -f >/dev/null 2>&1 || true
    rm -rf "$broot" "$broot.run"
done
row cold; row re
read -r push_comp sample_unc < <(layout_bytes "$work/out-a" latest)

# First push, each into a fresh registry on 127.0.0.1.
registry() { # DIR -> starts docker-registry, sets registry_pid and port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$1/data"
    printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
        "$1/data" "$port" >"$1/config.yml"
    docker-registry serve "$1/config.yml" >"$1/log" 2>&1 &
    registry_pid=$!
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "registry did not start"; cat "$1/log"; return 1
}
stop_registry() { kill "$registry_pid"; wait "$registry_pid" 2>/dev/null || true; registry_pid=; rm -rf "$1"; }
for r in $(seq 1 "$rounds"); do
    log "push round $r"
    registry "$work/reg"
    timed "$work/a.push" al push "127.0.0.1:$port/sample:latest" --from "oci:$work/out-a:latest" -q
    stop_registry "$work/reg"
    registry "$work/reg"
    timed "$work/b.push" skopeo copy -q --dest-tls-verify=false "oci:$work/out-a:latest" \
        "docker://127.0.0.1:$port/sample:latest"
    stop_registry "$work/reg"
done
row push

# ---------------------------------------------------------------- the Airflow 3 set
store=$cache/store-warm
af=$work/airflow
project "$af" "$AIRFLOW_REQUIREMENTS" "" 10
log "Airflow 3 set: lock (warming the store)"
al lock "$af" --base-layout "$base" --cache-dir "$store" -q
: >"$work/a.lock"; : >"$work/b.lock"
for _ in $(seq 1 "$rounds"); do
    rm -f "$af/airlock.lock"
    timed "$work/a.lock" al lock "$af" --base-layout "$base" --cache-dir "$store" -q
done
af_wheels=$(pins "$af/airlock.lock" | wc -l)
af_mb=$(wheel_mb "$af/airlock.lock")
printf '%s' "$AIRFLOW_REQUIREMENTS" >"$work/airflow.in"
uvc
for _ in $(seq 1 "$rounds"); do timed "$work/b.lock" uvc; done
row lock

log "Airflow 3 set: Python layer from a warm store"
al build "$af" --locked --base-layout "$base" --cache-dir "$store" -o "oci:$work/out-af:latest" -q
: >"$work/a.py"; : >"$work/b.py"
for _ in $(seq 1 "$rounds"); do
    fresh_epoch; last_epoch=$epoch_seq
    SOURCE_DATE_EPOCH=$last_epoch timed "$work/a.py" al build "$af" --frozen --base-layout "$base" \
        --cache-dir "$store" -o "oci:$work/out-af:latest" -q
done
pins "$af/airlock.lock" >"$work/af-pins.txt"
uvi "$work/uv-target" # warm uv's cache
: >"$work/b.py"
for _ in $(seq 1 "$rounds"); do
    rm -rf "$work/uv-target" "$work/uv-target.tar.gz"
    timed "$work/b.py" bash -c 'uvi "$1" --offline && tar -c -C "$1" . | gzip -6 > "$1.tar.gz"' \
        x "$work/uv-target"
done
py_unc=$(du -sb "$work/uv-target" | cut -f1)
row py

log "Airflow 3 set: rebuild after adding one small requirement"
: >"$work/a.add"; : >"$work/a.addlock"
for small in "${SMALL[@]:0:$rounds}"; do
    rm -rf "$work/af2"
    cp -a "$af" "$work/af2"
    printf '%s\n' "$small" >>"$work/af2/requirements.txt"
    timed "$work/a.addlock" al lock "$work/af2" --base-layout "$base" --cache-dir "$store" -q
    # The new wheel into the store without building (an older binary has no `fetch`:
    # then a build at another epoch downloads it).
    if ! al fetch "$work/af2" --base-layout "$base" --cache-dir "$store" -q 2>/dev/null; then
        fresh_epoch; SOURCE_DATE_EPOCH=$epoch_seq al build "$work/af2" --locked --base-layout "$base" \
            --cache-dir "$store" -o "oci:$work/out-af:latest" -q
    fi
    SOURCE_DATE_EPOCH=$last_epoch timed "$work/a.add" al build "$work/af2" --frozen \
        --base-layout "$base" --cache-dir "$store" -o "oci:$work/out-af:latest" -q
done
row add

# ---------------------------------------------------------------- Debian layer
log "openjdk-17-jre-headless: Debian layer from cached .debs"
deb=$work/debian
project "$deb" "" "openjdk-17-jre-headless
" 10
al build "$deb" --base-layout "$base" --cache-dir "$store" -o "oci:$work/out-deb:latest" -q
: >"$work/a.deb"; : >"$work/b.deb"
for _ in $(seq 1 "$rounds"); do
    fresh_epoch; SOURCE_DATE_EPOCH=$epoch_seq timed "$work/a.deb" al build "$deb" --frozen --base-layout "$base" \
        --cache-dir "$store" -o "oci:$work/out-deb:latest" -q
done
python3 -c 'import sys,tomllib; [print(d["sha256"][7:]) for d in tomllib.load(open(sys.argv[1],"rb"))["debs"]]' \
    "$deb/airlock.lock" >"$work/debs.txt"
deb_count=$(wc -l <"$work/debs.txt")
for _ in $(seq 1 "$rounds"); do
    rm -rf "$work/deb-x" "$work/deb-x.tar.gz"
    mkdir "$work/deb-x"
    timed "$work/b.deb" bash -c 'while read -r h; do dpkg-deb -x "$2/blobs/sha256/$h" "$1"; done < "$3" &&
        tar -c -C "$1" . | gzip -6 > "$1.tar.gz"' x "$work/deb-x" "$store" "$work/debs.txt"
done
deb_unc=$(du -sb "$work/deb-x" | cut -f1)
row deb

# ---------------------------------------------------------------- peak RSS, > 1 GB image
log "peak RSS: openjdk + the Airflow 3 set${big_extra:+ + $big_extra}"
big=$work/big
project "$big" "$AIRFLOW_REQUIREMENTS" "openjdk-17-jre-headless
$big_extra
" 10
al build "$big" --base-layout "$base" --cache-dir "$store" -o "oci:$work/out-big:latest" -q
: >"$work/a.rss"
fresh_epoch; SOURCE_DATE_EPOCH=$epoch_seq timed "$work/a.rss" al build "$big" --frozen --base-layout "$base" \
    --cache-dir "$store" -o "oci:$work/out-big:latest" -q
read -r big_comp big_unc < <(layout_bytes "$work/out-big" latest)
row rss

# ---------------------------------------------------------------- profile (optional)
if [ "${PROFILE:-0}" = 1 ] && command -v perf >/dev/null; then
    log "profile: perf record of one cold build of the sample project"
    rm -rf "$work/store-cold" "$work/out-a"
    perf record -q -F 499 -o "$work/perf.data" -- "$airlock" build "$sample" --locked \
        --base-layout "$base" --cache-dir "$work/store-cold" -o "oci:$work/out-a:latest" -q \
        >/dev/null 2>&1 || true
    perf report -i "$work/perf.data" --no-children --sort symbol --stdio >"$work/perf.sym" 2>/dev/null || true
    perf report -i "$work/perf.data" --no-children --sort comm --stdio >"$work/perf.comm" 2>/dev/null || true
    perf report -i "$work/perf.data" --no-children --sort dso --stdio >"$work/perf.dso" 2>/dev/null || true
    echo "== top symbols of a cold build (perf, self time) =="
    grep -E '^ +[0-9]' "$work/perf.sym" | head -25 | cut -c1-110 || true
    echo "== by thread name =="
    grep -E '^ +[0-9]' "$work/perf.comm" | head -10 | cut -c1-110 || true
    echo "== by object =="
    grep -E '^ +[0-9]' "$work/perf.dso" | head -8 | cut -c1-110 || true
    echo "== timeline of another cold build (-v log lines, seconds since start) =="
    rm -rf "$work/store-cold" "$work/out-a"
    "$airlock" build "$sample" --locked --base-layout "$base" --cache-dir "$work/store-cold" \
        -o "oci:$work/out-a:latest" -v 2>&1 >/dev/null \
        | python3 -uc 'import sys, time
t = time.monotonic()
for line in sys.stdin:
    print(f"{time.monotonic() - t:8.3f}  {line.rstrip()[:150]}")' || true
fi

# ---------------------------------------------------------------- table
# The raw figures (wall, cpu, peak RSS kB per run) are kept for a look afterwards.
rm -rf "$cache/last-run" && mkdir -p "$cache/last-run" && cp "$work"/[ab].* "$cache/last-run/"
f() { printf '%.3f' "$1"; }
ratio() { echo "scale=2; $1 / $2" | bc -l | sed 's/^\./0./'; }
mb() { echo "scale=1; $1 / 1000000" | bc | sed 's/^\./0./'; }
# pair NAME: medians of wall and CPU (user+sys) of airlock (a.NAME) and the anchor (b.NAME)
pair() {
    aw=$(col "$work/a.$1" 1); ac=$(col "$work/a.$1" 2)
    bw=$(col "$work/b.$1" 1); bcpu=$(col "$work/b.$1" 2)
}
line() { printf '| %-45s | %-40s | %7s | %6s | %7s | %6s | %8s | %8s | %5s |\n' "$@"; }
full() { # MEASURE ANCHOR NAME
    pair "$3"
    line "$1" "$2" "$(f "$bw")" "$(f "$bcpu")" "$(f "$aw")" "$(f "$ac")" \
        "$(ratio "$bw" "$aw")x" "$(ratio "$bcpu" "$ac")x" "${LOAD[$3]}"
}
rss=$(col "$work/a.rss" 3)
apy_rss=$(col "$work/a.py" 3); adeb_rss=$(col "$work/a.deb" 3)

echo
echo "airlock: $airlock ($("$airlock" --version 2>/dev/null || echo '?'))"
echo "load: start [$start_uptime], end [$(uptime)]; $(nproc) cores"
echo "rounds: $rounds (medians); buildah storage driver $driver, --isolation chroot"
echo "sample: 200 DAGs, $sample_wheels wheels / $sample_mb MB, base $(mb "$base_gz") MB gzip;" \
    "image $(mb "$push_comp") MB compressed, $(mb "$sample_unc") MB uncompressed"
echo "Airflow 3 set: $af_wheels wheels / $af_mb MB, $(mb "$py_unc") MB installed;" \
    "openjdk-17-jre-headless: $deb_count .debs, $(mb "$deb_unc") MB unpacked"
echo
line measure anchor "anchor" "cpu" "airlock" "cpu" "ratio" "cpu" load
line "" "" "wall s" "s" "wall s" "s" "wall" "ratio" "1 min"
echo "|-----------------------------------------------|------------------------------------------|---------|--------|---------|--------|----------|----------|-------|"
full "cold build -> OCI layout" "buildah bud --no-cache + push oci:" cold
full "rebuild after one DAG edit, output written" "buildah bud --layers + push oci:" re
full "first push, local registry ($(mb "$push_comp") MB)" "skopeo copy" push
full "lock, Airflow 3 set, warm" "uv pip compile, warm" lock
full "Python layer, Airflow 3 set, warm store" "uv pip install --target + tar | gzip -6" py
full "Debian layer, openjdk-17-jre-headless" "dpkg-deb -x + tar | gzip -6" deb
aadd=$(col "$work/a.add" 1)
line "... Python layer after adding one requirement" "target" "0.500" "" "$(f "$aadd")" \
    "$(f "$(col "$work/a.add" 2)")" "$(ratio 0.5 "$aadd")x" "" "${LOAD[add]}"
line "peak RSS (MB), $(mb "$big_unc") MB image" "target" "200" "" "$((rss / 1024))" "" \
    "$(ratio 200 "$((rss / 1024))")x" "" "${LOAD[rss]}"
echo "(ratio = anchor / airlock: above 1 airlock is faster or smaller; cpu = user + sys)"
echo "airlock lock after adding the requirement: $(f "$(col "$work/a.addlock" 1)") s;" \
    "peak RSS: Python layer build $((apy_rss / 1024)) MB, Debian layer build $((adeb_rss / 1024)) MB;" \
    "the > 1 GB build took $(f "$(col "$work/a.rss" 1)") s"
echo
yes_no() { if [ "$(echo "$1" | bc -l)" = 1 ]; then echo met; else echo "NOT met"; fi; }
pair cold; ac_=$aw; bc_=$bw
pair py; apy=$aw; bpy=$bw
pair deb; adeb=$aw; bdeb=$bw
echo "Targets (wall, medians):"
echo "- cold build >= 8x faster than buildah: $(ratio "$bc_" "$ac_")x, $(yes_no "$bc_ >= 8 * $ac_")"
echo "- Python layer no slower than uv --target + tar | gzip -6: $(yes_no "$apy <= $bpy")"
echo "- rebuild after adding one small requirement < 0.5 s: $(f "$aadd") s, $(yes_no "$aadd < 0.5")"
echo "- Debian layer no slower than dpkg-deb -x + tar | gzip -6: $(yes_no "$adeb <= $bdeb")"
echo "- peak RSS < 200 MB for an image > 1 GB uncompressed ($(mb "$big_unc") MB):" \
    "$((rss / 1024)) MB, $(yes_no "$rss < 204800 && $big_unc > 1000000000")"
pair re; r1=$(ratio "$bw" "$aw"); pair push; r2=$(ratio "$bw" "$aw"); pair lock; r3=$(ratio "$bw" "$aw")
echo "- no regression of rebuild/push/lock (#15's ratios: 77x, 1.7x, 1.8x): ${r1}x, ${r2}x, ${r3}x"
