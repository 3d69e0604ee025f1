# Sourced by the setup scripts that install Python test peers: `pinned_venv VENV REQUIREMENTS`
# makes the virtualenv VENV (if missing) and installs REQUIREMENTS into it, idempotently: a
# stamp in the venv records which requirements it holds, so a second run installs nothing.
pinned_venv() {
  local venv=$1 requirements=$2
  local stamp="$venv/.requirements.sha256" wanted
  wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$wanted" > "$stamp"
  fi
}
