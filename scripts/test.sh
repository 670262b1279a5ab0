#!/usr/bin/env bash
# Install everything, make sure PostgreSQL and Chromium are there, check lint, format and
# layering, then run the whole test suite on SQLite and PostgreSQL.
# Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
venv="${ARENA_VENV:-$HOME/.cache/gallery-arena/venv}"
bash scripts/install.sh "$venv"

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
db="arena_test_$$"
createdb -h 127.0.0.1 -U postgres "$db"
trap 'dropdb -h 127.0.0.1 -U postgres --if-exists --force "$db" || true' EXIT
export ARENA_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:5432/$db"

# Redis backs the shared rate limits in tests/test_shared_state.py.
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  command -v redis-server >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null
  redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' >/dev/null
  for _ in $(seq 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.5; done
fi

if [ ! -x /usr/lib/chromium/chromium ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
fi

# Lint, format and layering first: they take seconds and fail fast.
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
"$venv/bin/lint-imports" --no-cache

set +e
# One pytest process per core (pytest-xdist; each gets its own PostgreSQL database), tests
# handed out as the processes free up. ARENA_TEST_PROCESSES=0 runs them in this process.
"$venv/bin/python" -m pytest -n "${ARENA_TEST_PROCESSES:-auto}" --dist worksteal "$@"
rc=$?
set -e
# pytest's 5 means "no tests ran": that is a failure, not a pass.
[ "$rc" -eq 5 ] && { echo "pytest collected no tests" >&2; exit 1; }
exit "$rc"
