#!/usr/bin/env bash
# Starts the services the tests need (Redis 7 on 6379, PostgreSQL on 5432)
# when they are not already answering. Installs them from Debian's packages
# if they are missing. Exits non-zero if a service still does not answer.
set -euo pipefail

need_install=()
command -v redis-server >/dev/null || need_install+=(redis-server)
command -v pg_ctlcluster >/dev/null || need_install+=(postgresql)
if [ ${#need_install[@]} -gt 0 ]; then
  echo "services: installing ${need_install[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_install[@]}" >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "services: starting redis-server on 6379"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "services: starting postgresql"
  ver=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
fi

for i in $(seq 1 50); do
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    break
  fi
  sleep 0.2
done
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null || { echo "services: redis is not answering on 127.0.0.1:6379" >&2; exit 1; }
pg_isready -h 127.0.0.1 -p 5432 -q || { echo "services: postgresql is not answering on 127.0.0.1:5432" >&2; exit 1; }
# The tests connect as postgres with trust auth to database test.
psql -h 127.0.0.1 -U postgres -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test" >/dev/null
echo "services: redis and postgresql are up"
