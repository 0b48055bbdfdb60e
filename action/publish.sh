# The Publish step of action.yml: reads the inputs of pypa/gh-action-pypi-publish (same
# names and meaning), runs `trustpub publish --json`, writes the step's outputs and notes
# in the step summary where trustpub's behaviour differs. Runs under bash on Linux,
# macOS and Windows runners. Every bad input: one `::error::` line naming the input, exit 1.
set -euo pipefail

# A workflow command, escaped as the runner reads it: '%' in the message, and ':' and
# ',' in the title too. On stderr: the runner reads commands there as well, and a $(...)
# around a function does not swallow it.
annotate() {
  local title="${2//%/%25}" message="${3//%/%25}"
  title="${title//:/%3A}"
  echo "::$1 title=${title//,/%2C}::${message//$'\n'/%0A}" >&2
}

fail() {
  annotate error "trustpub action: $1" "$2"
  exit 1
}

# The official action's inputs have deprecated underscore spellings; the hyphenated one
# wins when both are given, as there. Prints the value; warns about the old spelling.
pick() {
  local name="$1" value="$2" old_value="$3" default="$4" old="${1//-/_}"
  if [ -n "$old_value" ]; then
    if [ -n "$value" ] && [ "$value" != "$old_value" ]; then
      annotate warning "Deprecated input $old" "\`$old\` is deprecated and ignored here because \`$name\` is also set; remove \`$old\`."
    else
      annotate warning "Deprecated input $old" "\`$old\` is deprecated: rename it to \`$name\` (same meaning)."
      value="$old_value"
    fi
  fi
  printf '%s' "${value:-$default}"
}

# true/false as GitHub passes booleans (any case). A trustpub-only input refuses anything
# else by name; an input of pypa/gh-action-pypi-publish (`official`) reads it as that
# action does, where every value but false means true, and warns.
boolean() {
  local lowered
  lowered="$(printf '%s' "$2" | tr '[:upper:]' '[:lower:]')"
  case "$lowered" in
    true | false) printf '%s' "$lowered" ;;
    *)
      [ "${3:-}" = official ] || fail "input $1" "\`$1\` must be true or false, not '$2'."
      annotate warning "Input $1" "\`$1: $2\` is read as true, as pypa/gh-action-pypi-publish reads every value but false; write true or false."
      printf true
      ;;
  esac
}

repository_url="$(pick repository-url "${INPUT_REPOSITORY_URL:-}" "${INPUT_REPOSITORY_URL_DEPRECATED:-}" https://upload.pypi.org/legacy/)"
packages_dir="$(pick packages-dir "${INPUT_PACKAGES_DIR:-}" "${INPUT_PACKAGES_DIR_DEPRECATED:-}" dist)"
verify_metadata="$(boolean verify-metadata "$(pick verify-metadata "${INPUT_VERIFY_METADATA:-}" "${INPUT_VERIFY_METADATA_DEPRECATED:-}" true)" official)"
skip_existing="$(boolean skip-existing "$(pick skip-existing "${INPUT_SKIP_EXISTING:-}" "${INPUT_SKIP_EXISTING_DEPRECATED:-}" false)" official)"
print_hash="$(boolean print-hash "$(pick print-hash "${INPUT_PRINT_HASH:-}" "${INPUT_PRINT_HASH_DEPRECATED:-}" false)" official)"
verbose="$(boolean verbose "${INPUT_VERBOSE:-false}" official)"
attestations="$(boolean attestations "${INPUT_ATTESTATIONS:-true}" official)"
slsa="$(boolean slsa "${INPUT_SLSA:-false}")"
jobs="${INPUT_JOBS:-4}"
case "$jobs" in '' | *[!0-9]*) fail "input jobs" "\`jobs\` must be a whole number, not '$jobs'." ;; esac
user="${INPUT_USER:-__token__}"
password="${TRUSTPUB_ACTION_PASSWORD:-}"
unset TRUSTPUB_ACTION_PASSWORD

# Several indexes, one per line or separated by commas: one --to list, in that order.
targets="$(printf '%s' "$repository_url" | tr ',\r' '\n\n' | sed 's/^[[:space:]]*//; s/[[:space:]]*$//' | sed '/^$/d' | paste -sd, -)"
[ -n "$targets" ] || fail "input repository-url" "\`repository-url\` holds no URL."
if [ ! -d "$packages_dir" ]; then
  fail "input packages-dir" "\`packages-dir\` is '$packages_dir', which is not a folder in $(pwd). Build the distributions there first (or download the artifact holding them)."
fi

attested_elsewhere=false
args=(publish --json --to "$targets" --jobs "$jobs")
[ "$verbose" = true ] && args+=(-v)
[ "$slsa" = true ] && args+=(--slsa)
if [ -n "$password" ]; then
  args+=(--credentials token)
  if [ "$user" = "__token__" ]; then
    export TRUSTPUB_TOKEN="$password"
  else
    export TRUSTPUB_USERNAME="$user" TRUSTPUB_PASSWORD="$password"
  fi
  if [ "$attestations" = true ]; then
    annotate warning "No attestations" "attestations need trusted publishing; publishing with the token and without attestations (set attestations: false to silence this, or remove password: and grant id-token: write)"
  fi
  args+=(--no-attestations)
else
  if [ "$user" != "__token__" ]; then
    fail "input password" "\`user\` is '$user' but \`password\` is empty: give the password (from a secret), or remove \`user\` to use trusted publishing."
  fi
  # Without `id-token: write` GitHub gives the job no way to ask for an OIDC token.
  if [ -z "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" ] || [ -z "${ACTIONS_ID_TOKEN_REQUEST_TOKEN:-}" ]; then
    fail "trusted publishing needs id-token: write" "this job cannot get an OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL is not set). Fix: add 'permissions: id-token: write' to the publishing job (job level, only on the job that publishes), or pass an API token as password: \${{ secrets.PYPI_API_TOKEN }}."
  fi
  args+=(--credentials trusted-publishing)
  if [ "$attestations" = true ]; then
    args+=(--attestations)
    # pypa/gh-action-pypi-publish attests only when the URL names pypi.org; trustpub attests
    # for any index that takes trusted publishing, and the step summary says so.
    IFS=, read -r -a urls <<< "$targets"
    for url in "${urls[@]}"; do
      case "$url" in *pypi.org*) ;; *) attested_elsewhere=true ;; esac
    done
  else
    args+=(--no-attestations)
  fi
fi

out="$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/trustpub.XXXXXX")"
report="$out/report.json"
status=0
# The command line, with any user:password@ of a URL hidden (trustpub takes it as credentials).
printf 'running: trustpub %s %s\n' "${args[*]}" "$packages_dir" | sed -E 's#://[^/@[:space:]]*@#://***@#g'
"$TRUSTPUB_ACTION_RUN_PYTHON" -m trustpub "${args[@]}" "$packages_dir" > "$report" || status=$?

# Where trustpub read an input of pypa/gh-action-pypi-publish otherwise, say so.
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  {
    echo "#### How trustpub read the inputs of pypa/gh-action-pypi-publish"
    echo ""
    echo "- \`skip-existing: $skip_existing\`: trustpub compares by sha256 on every run. Files the index already had with the same bytes count as published; a file with the same name and other bytes stops the release before any upload."
    [ "$verify_metadata" = false ] && echo "- \`verify-metadata: false\`: trustpub's preflight ran anyway (it cannot be turned off); nothing is uploaded when a file would be refused."
    [ "$print_hash" = false ] && echo "- \`print-hash: false\`: the sha256 of every file is shown anyway."
    [ "$attested_elsewhere" = true ] && echo "- \`attestations: true\`: trustpub attests for an index other than PyPI and TestPyPI too (pypa/gh-action-pypi-publish ignores the input there)."
    echo ""
  } >> "$GITHUB_STEP_SUMMARY"
fi

"$TRUSTPUB_ACTION_RUN_PYTHON" "$TRUSTPUB_ACTION_PATH/action/outputs.py" "$report" || [ "$status" -ne 0 ]
exit "$status"
