#!/usr/bin/env bash
# A throwaway PostgreSQL server for the job-store tests (tests/web/test_web_jobstore_postgres.py).
#
# Needs Debian's PostgreSQL binaries (apt-get install postgresql); never touches the
# packaged cluster or port 5432. The cluster lives in a fresh folder under /tmp, listens on
# 127.0.0.1 only (and a Unix socket in that folder), on the first free port from 54329 up.
#
# Sourced (as .ci/run does):
#     source .ci/postgres.sh && postgres_start    # exports CALCDX_TEST_POSTGRES_URL
#     ...; postgres_stop                           # stops the server, deletes the folder
# Run, to wrap one command (the server is stopped afterwards, whatever happens):
#     .ci/postgres.sh .venv/bin/pytest -q tests/web
#
# As root, the server runs as the `postgres` user (initdb refuses root); otherwise as the
# calling user.

_calcdx_pg_dir=""
_calcdx_pg_bin=""

# Run a PostgreSQL program as the user owning the cluster, from inside the cluster folder
# (the postgres user may not be allowed into the current directory).
_calcdx_pg_run() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd "$_calcdx_pg_dir" && runuser -u postgres -- "$@")
    else
        (cd "$_calcdx_pg_dir" && "$@")
    fi
}

# Tell whether something accepts TCP connections on 127.0.0.1:$1.
_calcdx_port_taken() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Start the server; export CALCDX_TEST_POSTGRES_URL and CALCDX_POSTGRES_DIR.
postgres_start() {
    local initdb port password
    initdb=$(find /usr/lib/postgresql -maxdepth 3 -path '*/bin/initdb' 2>/dev/null \
        | sort -V | tail -n 1 || true)
    if [ -z "$initdb" ]; then
        echo "postgres.sh: no /usr/lib/postgresql/<version>/bin/initdb; apt-get install postgresql" >&2
        return 1
    fi
    _calcdx_pg_bin=$(dirname "$initdb")
    # /tmp, not $TMPDIR: the postgres user must reach it and the socket path must stay short.
    _calcdx_pg_dir=$(mktemp -d /tmp/calcdx-pg.XXXXXX)
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$_calcdx_pg_dir"
    fi
    chmod 700 "$_calcdx_pg_dir"
    password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

    # Local (socket) logins by the owner only; TCP logins need the password.
    _calcdx_pg_run "$_calcdx_pg_bin/initdb" -D "$_calcdx_pg_dir/data" -U postgres \
        --auth-local=peer --auth-host=scram-sha-256 --locale=C --encoding=UTF8 >/dev/null \
        || { echo "postgres.sh: initdb failed" >&2; postgres_stop; return 1; }

    port=""
    for candidate in $(seq 54329 54369); do
        _calcdx_port_taken "$candidate" && continue
        if _calcdx_pg_run "$_calcdx_pg_bin/pg_ctl" -D "$_calcdx_pg_dir/data" \
            -l "$_calcdx_pg_dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $candidate -k $_calcdx_pg_dir" start >/dev/null; then
            port=$candidate
            break
        fi
    done
    if [ -z "$port" ]; then
        echo "postgres.sh: the server did not start; its log:" >&2
        cat "$_calcdx_pg_dir/server.log" >&2 || true
        postgres_stop
        return 1
    fi

    # Each -c runs on its own (CREATE DATABASE refuses to run inside a transaction).
    _calcdx_pg_run "$_calcdx_pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$_calcdx_pg_dir" \
        -p "$port" -U postgres -d postgres \
        -c "CREATE ROLE calcdx LOGIN PASSWORD '$password'" \
        -c "CREATE DATABASE calcdx_test OWNER calcdx" >/dev/null \
        || { echo "postgres.sh: could not create the test role" >&2; postgres_stop; return 1; }

    export CALCDX_POSTGRES_DIR="$_calcdx_pg_dir"
    export CALCDX_TEST_POSTGRES_URL="postgresql+psycopg://calcdx:$password@127.0.0.1:$port/calcdx_test"
    echo "postgres.sh: PostgreSQL $(basename "$(dirname "$_calcdx_pg_bin")") on 127.0.0.1:$port" >&2
}

# Stop the server started by postgres_start and delete its folder (safe to call twice).
postgres_stop() {
    if [ -n "$_calcdx_pg_dir" ] && [ -d "$_calcdx_pg_dir" ]; then
        if [ -f "$_calcdx_pg_dir/data/postmaster.pid" ]; then
            _calcdx_pg_run "$_calcdx_pg_bin/pg_ctl" -D "$_calcdx_pg_dir/data" -m fast -w stop \
                >/dev/null || true
        fi
        rm -rf "$_calcdx_pg_dir"
    fi
    _calcdx_pg_dir=""
    unset CALCDX_TEST_POSTGRES_URL CALCDX_POSTGRES_DIR
}

# Run directly: start, run the command with the variables set, stop.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    if [ "$#" -eq 0 ]; then
        echo "usage: $0 COMMAND [ARG...]   (or: source $0; postgres_start)" >&2
        exit 2
    fi
    trap postgres_stop EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    postgres_start
    export CALCDX_REQUIRE_POSTGRES=1
    status=0
    "$@" || status=$?
    exit "$status"
fi
