#!/usr/bin/env bash
# Perform the Dockerfile's build and run steps by hand, without a Docker engine, and check the result.
#
#   1. build stage: copy what the Dockerfile copies, `pip wheel --wheel-dir wheels .`
#   2. runtime stage: a fresh Python 3.11 venv, `pip install --no-index --find-links=wheels valitupa`
#   3. run the image's CMD (`valitupa db upgrade && exec valitupa run`) with the image's ENV, against
#      the Bot API sandbox (`python -m sandbox`), until the image's HEALTHCHECK command passes;
#      then /healthz, /metrics, a participant's /start answered, `valitupa purge --dry-run`, SIGTERM.
#   4. the same in webhook mode on PostgreSQL, as compose.yaml runs it (when PostgreSQL answers on
#      127.0.0.1:5432; a fresh database is created and dropped), else on SQLite.
#
# Differences from a container: LISTEN_HOST is 127.0.0.1 (not 0.0.0.0), /data is a temporary
# directory, and the non-root user is not created. Everything happens in a temporary directory.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3.11}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/valitupa-docker-steps.XXXXXX")"
PIDS=()
PG_DB=""
PG_ADMIN="${VALITUPA_TEST_POSTGRES:-postgresql://postgres@127.0.0.1:5432/test}"

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [[ -n "$PG_DB" ]]; then
    psql "${PG_ADMIN/+asyncpg/}" -qc "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

# The Dockerfile read as data: the image's CMD and HEALTHCHECK, exactly as written there.
dockerfile_json() {
  "$PYTHON" - "$ROOT/Dockerfile" "$1" <<'PY'
import json, re, sys
text = re.sub(r"\\\n\s*", " ", open(sys.argv[1], encoding="utf-8").read())
for line in text.splitlines():
    if sys.argv[2] == "CMD" and line.startswith("CMD "):
        print(json.loads(line[4:])[-1])
    if sys.argv[2] == "HEALTHCHECK" and line.startswith("HEALTHCHECK "):
        print(json.loads(line.split(" CMD ", 1)[1])[-1])
PY
}

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

step "build stage: copy the build context and build wheels (pip wheel --wheel-dir wheels .)"
mkdir -p "$WORK/src"
cp "$ROOT/pyproject.toml" "$ROOT/README.md" "$WORK/src/"
for package in bot handlers storage messages; do
  cp -r "$ROOT/$package" "$WORK/src/$package"
done
find "$WORK/src" -name __pycache__ -prune -exec rm -rf {} +
"$PYTHON" -m venv "$WORK/build-venv"
# (pip's warnings about index locations configured on this machine but absent are not ours)
(cd "$WORK/src" && PIP_DISABLE_PIP_VERSION_CHECK=1 "$WORK/build-venv/bin/pip" wheel --quiet --wheel-dir "$WORK/wheels" .) \
  2> >(grep -v '^WARNING: Location' >&2)
echo "wheels: $(ls "$WORK/wheels" | wc -l) ($(ls "$WORK/wheels" | grep -i '^valitupa-'))"
if "$PYTHON" -m zipfile -l "$WORK"/wheels/valitupa-*.whl | grep -q '^sandbox/'; then
  fail "the wheel holds the sandbox (a test tool)"
fi

step "runtime stage: pip install --no-index --find-links=wheels valitupa"
"$PYTHON" -m venv "$WORK/runtime"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$WORK/runtime/bin/pip" install --quiet --no-index --find-links="$WORK/wheels" valitupa
export PATH="$WORK/runtime/bin:$PATH"
echo "installed: $(valitupa --help | head -n 1)"

step "the Bot API sandbox: python -m sandbox (from the checkout: it is not in the wheel)"
(cd "$WORK" && python -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("sandbox") is not None)') \
  || fail "the sandbox package was installed from the wheel"
(cd "$ROOT" && exec python -m sandbox --port 0) >"$WORK/sandbox.out" 2>"$WORK/sandbox.err" &
PIDS+=("$!")
for _ in $(seq 1 50); do
  grep -q '^BOT_TOKEN=' "$WORK/sandbox.out" 2>/dev/null && break
  sleep 0.1
done
TELEGRAM_API_URL="$(sed -n 's/^TELEGRAM_API_URL=//p' "$WORK/sandbox.out")"
BOT_TOKEN="$(sed -n 's/^BOT_TOKEN=//p' "$WORK/sandbox.out")"
[[ -n "$TELEGRAM_API_URL" ]] || fail "the sandbox did not start"
export TELEGRAM_API_URL BOT_TOKEN
echo "sandbox at $TELEGRAM_API_URL"

CMD="$(dockerfile_json CMD)"
HEALTHCHECK="$(dockerfile_json HEALTHCHECK)"
echo "CMD: sh -c '$CMD'"
echo "HEALTHCHECK: python -c \"$HEALTHCHECK\""

# run_image NAME: the image's CMD with the current environment, in $WORK/NAME as /data, checked.
run_image() {
  local name="$1" data="$WORK/$1" pid started code elapsed user
  mkdir -p "$data"
  (cd "$data" && exec sh -c "$CMD") >"$data/run.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  started=$(date +%s.%N)
  for _ in $(seq 1 60); do
    if python -c "$HEALTHCHECK" 2>/dev/null; then break; fi
    kill -0 "$pid" 2>/dev/null || { cat "$data/run.log"; fail "$name exited before it was healthy"; }
    sleep 0.5
  done
  python -c "$HEALTHCHECK" || { tail -n 30 "$data/run.log"; fail "$name never became healthy"; }
  printf 'healthy after %.1f s (HEALTHCHECK exit 0)\n' "$(echo "$(date +%s.%N) - $started" | bc)"
  user=$((RANDOM + 40000))
  curl -fsS -d '{"command": "start", "first_name": "Aino"}' "$TELEGRAM_API_URL/sandbox/users/$user/command" >/dev/null
  for _ in $(seq 1 50); do
    [[ "$(curl -fsS "$TELEGRAM_API_URL/sandbox/users/$user/messages")" == *'"text"'* ]] && break
    sleep 0.1
  done
  echo "a participant's /start was answered: $(curl -fsS "$TELEGRAM_API_URL/sandbox/users/$user/messages" | python -c 'import json, sys; m = json.load(sys.stdin)["result"]; print(repr(m[-1]["text"][:70]) if m else "NO ANSWER")')"

  echo "GET /healthz: $(curl -fsS "http://127.0.0.1:$LISTEN_PORT/healthz")"
  echo "GET /metrics (excerpt):"
  curl -fsS "http://127.0.0.1:$LISTEN_PORT/metrics" | grep -E '^valitupa_(deliveries\{state="pending"\}|leader|telegram_ok_age|send_seconds_count|updates_total)' | sed 's/^/  /'

  echo "sandbox: $(curl -fsS "$TELEGRAM_API_URL/sandbox/state" | python -c 'import json, sys; s = json.load(sys.stdin)["result"]; print("webhook", s["webhook"], {k: v for k, v in s["stats"].items() if k.startswith("webhook")}, "|", len(s["violations"]), "Bot API violations")')"

  echo "valitupa purge --dry-run:"
  (cd "$data" && valitupa purge --dry-run 2>/dev/null) | sed 's/^/  /'

  started=$(date +%s.%N)
  kill -TERM "$pid"
  code=0
  wait "$pid" || code=$?
  elapsed=$(echo "$(date +%s.%N) - $started" | bc)
  printf 'SIGTERM: exit code %s after %.1f s\n' "$code" "$elapsed"
  [[ "$code" == 0 ]] || { tail -n 30 "$data/run.log"; fail "$name did not exit cleanly"; }
  (( $(echo "$elapsed < 10" | bc) )) || fail "$name took longer than 10 s to stop"
  if grep -q "$BOT_TOKEN" "$data/run.log"; then fail "the token appears in the log"; fi
  echo "log: $(wc -l <"$data/run.log") lines, none containing the token ($(grep -c '^{' "$data/run.log" || true) of them JSON); last: $(tail -n 1 "$data/run.log")"
}

step "image defaults: SQLite in /data, long polling (docker run --env-file .env valitupa)"
export DATABASE_URL="sqlite+aiosqlite:///$WORK/polling/valitupa.db"
export LISTEN_HOST=127.0.0.1 LISTEN_PORT="$(free_port)" LOG_FORMAT=json
run_image polling

if command -v pg_isready >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q; then
  PG_DB="valitupa_steps_$$"
  psql "${PG_ADMIN/+asyncpg/}" -qc "CREATE DATABASE \"$PG_DB\"" >/dev/null
  export DATABASE_URL="postgresql://postgres@127.0.0.1:5432/$PG_DB"
  step "compose.yaml: PostgreSQL, webhook behind a proxy (database $PG_DB)"
else
  export DATABASE_URL="sqlite+aiosqlite:///$WORK/webhook/valitupa.db"
  step "webhook mode (PostgreSQL not available here: SQLite)"
fi
export LISTEN_PORT="$(free_port)"
export WEBHOOK_URL="http://127.0.0.1:$LISTEN_PORT/telegram/webhook"
WEBHOOK_SECRET="$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
export WEBHOOK_SECRET
run_image webhook

step "all Dockerfile steps passed"
