# The Install step of action.yml: a virtual environment in $RUNNER_TEMP with trustpub's
# dependencies from the lock committed beside this file (every file checked against its
# sha256), trustpub itself from this action's checkout, and `python=<its interpreter>`
# in the step's outputs. Runs under bash on Linux, macOS and Windows runners.
#
# Environment: TRUSTPUB_ACTION_PATH (the action's checkout), TRUSTPUB_ACTION_PYTHON (the
# `python` input, may be empty), RUNNER_OS, RUNNER_TEMP, GITHUB_OUTPUT.
set -euo pipefail

error() {
  echo "::error title=$1::$2"
  exit 1
}

lock="$TRUSTPUB_ACTION_PATH/action/requirements.txt"
py="${TRUSTPUB_ACTION_PYTHON:-}"
# Where a venv keeps its interpreter: Scripts\python.exe with the CPython Windows runners
# have, bin/python on Linux and macOS. A Python built for MSYS2 or MinGW makes bin/ on
# Windows too, so the other layout is looked at second, never first.
case "${RUNNER_OS:-}" in
  Windows) default_py=python; layouts=(Scripts/python.exe bin/python.exe bin/python) ;;
  *) default_py=python3; layouts=(bin/python Scripts/python.exe) ;;
esac
py="${py:-$default_py}"

floor="$(sed -n 's/^# requires-python: >=\([0-9.]*\).*/\1/p' "$lock")"
if ! "$py" -c "import sys; sys.exit(sys.version_info[:2] < tuple(map(int, '$floor'.split('.'))))"; then
  error "trustpub needs Python ${floor} or newer" "'$py' is older than the Python the Action's lock was tested with (action/requirements.txt). Add actions/setup-python with python-version: '3.12' before this step, or set the input python: to a newer interpreter."
fi

venv="${RUNNER_TEMP}/trustpub-venv"
"$py" -m venv "$venv"
python=""
for layout in "${layouts[@]}"; do
  if [ -f "$venv/$layout" ]; then
    python="$venv/$layout"
    break
  fi
done
if [ -z "$python" ]; then
  error "trustpub action: no interpreter in the virtual environment" "'$py -m venv' made none of ${layouts[*]} in $venv (RUNNER_OS=${RUNNER_OS:-unset}). Set the input python: to a CPython interpreter, e.g. the one actions/setup-python installs."
fi

pip=("$python" -m pip --disable-pip-version-check --quiet)
"${pip[@]}" install --require-hashes --no-deps --only-binary :all: -r "$lock"
"${pip[@]}" install --no-deps --no-build-isolation --no-index "$TRUSTPUB_ACTION_PATH"
"${pip[@]}" check
echo "python=$python" >> "$GITHUB_OUTPUT"
