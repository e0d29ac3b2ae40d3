#!/usr/bin/env bash
# Removes what the container tests leave behind when a run is interrupted (there is no Ryuk to do
# it): testcontainers' containers and networks (label org.testcontainers=true), and the compose
# projects of test/docker/compose.test.ts (consulatetest<pid>: containers, networks, volumes).
set -euo pipefail
tc=(--filter label=org.testcontainers=true)
docker ps -aq "${tc[@]}" | xargs -r docker rm -f -v >/dev/null
project() { awk '$2 ~ /^consulatetest[0-9]+$/ { print $1 }'; }
fmt='{{.ID}} {{.Label "com.docker.compose.project"}}'
docker ps -a --format "$fmt" | project | xargs -r docker rm -f -v >/dev/null
docker network ls --format "$fmt" | project | xargs -r docker network rm >/dev/null
docker volume ls --format '{{.Name}} {{.Label "com.docker.compose.project"}}' | project | xargs -r docker volume rm >/dev/null
docker network prune -f "${tc[@]}" >/dev/null
