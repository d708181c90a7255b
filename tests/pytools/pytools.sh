#!/usr/bin/env bash
# Makes sure the Python tools the integration tests run (moto_server, cfn-lint,
# the SAM translator, openapi-spec-validator) are there for `make test`.
#
#   tests/pytools/pytools.sh          prints the directory to put first on
#                                     PATH, or nothing when the tools on PATH will do
#   tests/pytools/pytools.sh --plan   prints what it finds and what it would do
#
# When the tools on PATH are missing or older than the pins below, it installs
# the pins once into a virtual environment (needs internet that first time)
# and reuses it after. Every failure is one line on stderr and a non-zero
# exit. Plain bash (3.2 too, for macOS), no other tools.
# Environment: PYTHON (interpreter for the venv, default python3),
# PYTOOLS_VENV (the venv's folder, default the user's cache folder: outside
# the repository, which sam build copies whole).
set -euo pipefail

# What a fresh machine installs; the tools on PATH are used if at least these.
PINS=("moto[server]==5.2.1" "cfn-lint==1.51.0" "openapi-spec-validator==0.9.0" "aws-sam-translator==1.110.0")
# Needed too, at any version: the tests import yaml; moto_server needs flask.
ALSO=(PyYAML flask flask-cors)
MIN_PYTHON=3.11
HOW_PYTHON="install it, e.g. apt-get install python3 python3-venv, brew install python@3.12"

venv=${PYTOOLS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/sentiance-authcode/venv}
py=${PYTHON:-python3}
stamp=$venv/.pins

plan=false
case "${1:-}" in
--plan) plan=true ;;
"") ;;
*)
	echo "usage: $0 [--plan]" >&2
	exit 2
	;;
esac

die() {
	echo "$*" >&2
	exit 1
}

# Prints "python X.Y.Z" and a "name version" line per package ("-" when not
# installed). Written for any Python so an old one is reported, not crashed on.
INVENTORY='
import sys
sys.stdout.write("python %d.%d.%d\n" % tuple(sys.version_info[:3]))
try:
    from importlib import metadata
except ImportError:
    metadata = None
for name in sys.argv[1:]:
    try:
        version = metadata.version(name)
    except Exception:
        version = "-"
    sys.stdout.write("%s %s\n" % (name, version))
'

# The distribution names of PINS (moto[server]==5.2.1 -> moto) and ALSO.
dists=()
for pin in "${PINS[@]}"; do
	name=${pin%%==*}
	dists+=("${name%%\[*}")
done
dists+=("${ALSO[@]}")

# inventory PYTHON: that interpreter's INVENTORY output, empty if it cannot run.
inventory() {
	"$1" -c "$INVENTORY" "${dists[@]}" 2>/dev/null || true
}

# lookup INVENTORY NAME: the version recorded for NAME, or "-".
lookup() {
	local line
	while IFS= read -r line; do
		if [ "${line%% *}" = "$2" ]; then
			echo "${line#* }"
			return
		fi
	done <<<"$1"
	echo -
}

# version_ge A B: A >= B, comparing dotted numbers as numbers (1.9 < 1.51);
# a suffix such as rc1 is dropped from its component.
version_ge() {
	local IFS=. i x y
	local -a a b
	a=($1)
	b=($2)
	for i in 0 1 2 3; do
		x=${a[i]:-0}
		y=${b[i]:-0}
		x=${x%%[!0-9]*}
		y=${y%%[!0-9]*}
		x=$((10#${x:-0}))
		y=$((10#${y:-0}))
		if [ "$x" -ne "$y" ]; then
			[ "$x" -gt "$y" ]
			return
		fi
	done
	return 0
}

# The interpreter that would build the venv must be new enough, whatever else.
pypath=$(command -v "$py" || true)
[ -n "$pypath" ] || die "make test needs Python $MIN_PYTHON or newer (no $py on PATH): $HOW_PYTHON"
pyinv=$(inventory "$pypath")
pyver=$(lookup "$pyinv" python)
if [ "$pyver" = - ] || ! version_ge "$pyver" "$MIN_PYTHON"; then
	[ "$pyver" != - ] || pyver="an unknown version"
	die "make test needs Python $MIN_PYTHON or newer (found $pyver at $pypath): $HOW_PYTHON"
fi

# The tests run python3 from PATH: check what it has, row by row.
report=""
missing=0
row() {
	report+=$(printf '%-24s %s' "$1" "$2")$'\n'
}
pathpy=$(command -v python3 || true)
if [ -z "$pathpy" ]; then
	inv=""
	row python3 "missing on PATH"
	missing=1
else
	if [ "$pathpy" = "$pypath" ]; then inv=$pyinv; else inv=$(inventory "$pathpy"); fi
	v=$(lookup "$inv" python)
	if [ "$v" != - ] && version_ge "$v" "$MIN_PYTHON"; then
		row python3 "found $v at $pathpy"
	else
		row python3 "too old ($v < $MIN_PYTHON) at $pathpy"
		missing=1
	fi
fi
for pin in "${PINS[@]}"; do
	name=${pin%%==*}
	name=${name%%\[*}
	min=${pin##*==}
	v=$(lookup "$inv" "$name")
	case $name in
	moto) cmd=moto_server ;;
	cfn-lint) cmd=cfn-lint ;;
	*) cmd="" ;;
	esac
	if [ "$v" = - ]; then
		status=missing
	elif ! version_ge "$v" "$min"; then
		status="too old ($v < $min)"
	elif [ -n "$cmd" ] && ! command -v "$cmd" >/dev/null; then
		status="found $v, but $cmd is not on PATH"
	else
		row "$name" "found $v"
		continue
	fi
	row "$name" "$status"
	missing=1
done
for name in "${ALSO[@]}"; do
	v=$(lookup "$inv" "$name")
	if [ "$v" = - ]; then
		row "$name" missing
		missing=1
	else
		row "$name" "found $v"
	fi
done

pip=("$venv/bin/python3" -m pip install --disable-pip-version-check "${PINS[@]}")
installed=false
if [ -x "$venv/bin/python3" ] && [ -f "$stamp" ] && [ "$(<"$stamp")" = "${PINS[*]}" ]; then
	installed=true
fi

if $plan; then
	printf '%s' "$report"
	if [ "$missing" = 0 ]; then
		echo "plan: use the tools on PATH (no venv)"
	elif $installed; then
		echo "plan: use $venv/bin (the pins are installed there)"
	else
		echo "plan: create $venv with $pypath, then run: ${pip[*]}"
	fi
	exit 0
fi

[ "$missing" = 1 ] || exit 0
if $installed; then
	echo "$venv/bin"
	exit 0
fi

echo "pytools: installing the pinned Python tools into $venv (first run; needs internet)" >&2
if ! out=$("$pypath" -m venv --clear "$venv" 2>&1); then
	minor=${pyver%.*}
	case $out in
	*ensurepip*) die "make test: $pypath cannot create a virtual environment (no ensurepip): install python$minor-venv (apt-get install python$minor-venv) and run make test again" ;;
	*)
		last=${out##*$'\n'}
		die "make test: $pypath -m venv $venv failed${last:+ ($last)}: fix that or install ${PINS[*]} on PATH yourself"
		;;
	esac
fi
if ! "${pip[@]}" >"$venv/pip.log" 2>&1; then
	die "make test: pip could not install ${PINS[*]} into $venv (see $venv/pip.log): connect to the internet (pypi.org) and run make test again"
fi
echo "${PINS[*]}" >"$stamp"
echo "$venv/bin"
