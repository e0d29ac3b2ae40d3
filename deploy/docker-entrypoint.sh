#!/bin/sh
# The image's entrypoint, shaped like Consul's own image so that its tutorials work unchanged:
#   docker run IMAGE                                 consulate agent -dev (the CMD)
#   docker run IMAGE -server -bootstrap-expect 3     consulate agent <container defaults> -server ...
#   docker run IMAGE agent ...                       the same
#   docker run IMAGE gateway -server dc1-client      consulate gateway -client=0.0.0.0 ...
#   docker run IMAGE members | kv get x | ...        any other consulate command, as given
#   docker run IMAGE sh                              anything on the PATH runs as is
# The defaults come first, so flags given after them win (the last value of a flag counts). Config
# files cannot override them (flags beat files): data_dir and client_addr belong to the image.
set -e

# A container keeps its file system across stop and start: never let the previous run's ready
# file pass the health check before this run is up (the agent removes it too, once node starts).
if [ -n "${CONSULATE_READY_FILE:-}" ]; then rm -f "$CONSULATE_READY_FILE"; fi

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
  set -- agent "$@"
fi

case "$1" in
  agent)
    shift
    # -bind stays 0.0.0.0: the agent advertises the container's single private IPv4 (a container
    # on several networks names one with -advertise). HTTP and DNS listen on every interface so
    # that published ports reach them.
    set -- consulate agent -data-dir=/consulate/data -config-dir=/consulate/config -client=0.0.0.0 "$@"
    ;;
  gateway)
    shift
    set -- consulate gateway -client=0.0.0.0 "$@"
    ;;
  *)
    if ! command -v "$1" >/dev/null 2>&1; then set -- consulate "$@"; fi
    ;;
esac
exec "$@"
