#!/usr/bin/env bash
# A throwaway PostgreSQL server for the storage tests: a new cluster in a temporary folder, on
# 127.0.0.1 only, trusting local connections, removed when the command it runs ends.
#
#   scripts/test-postgres.sh make test      # runs `make test` with STANCEBOT_TEST_POSTGRES set
#
# It uses Debian's `postgresql` package (installed with apt-get when missing and run as root).
# Port: $STANCEBOT_TEST_PG_PORT, default 54329.
set -euo pipefail

port="${STANCEBOT_TEST_PG_PORT:-54329}"

find_bin() {
    local dir
    if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ]; then echo "$dir"; return; fi
    done
}

bin="$(find_bin || true)"
if [ -z "$bin" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test-postgres: installing Debian's postgresql package" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null \
            || { apt-get update -qq >/dev/null && \
                 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
        bin="$(find_bin)"
    else
        echo "test-postgres: PostgreSQL is not installed; install it (Debian: apt-get install" \
             "postgresql) or run the tests without it (PostgreSQL tests are then skipped)" >&2
        exit 2
    fi
fi

# initdb refuses to run as root: the cluster then belongs to the postgres user.
as_owner=()
if [ "$(id -u)" = 0 ]; then
    as_owner=(runuser -u postgres --)
fi

dir="$(mktemp -d /tmp/stancebot-pg.XXXXXX)"
chmod 755 "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"

stop() {
    "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT

"${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
"${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c full_page_writes=off \
-c synchronous_commit=off -c max_connections=200" start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }

export STANCEBOT_TEST_POSTGRES="postgresql://postgres@127.0.0.1:$port/postgres"
echo "test-postgres: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on port $port" >&2
"$@"
