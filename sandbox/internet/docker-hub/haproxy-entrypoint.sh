#!/bin/sh
# Entrypoint of the sandbox's haproxy images (sandbox/internet/docker-hub-images.ts). It reproduces the behaviour of
# the official image's docker-entrypoint.sh (docker-library/haproxy), so `docker run IMAGE`,
# `docker run IMAGE -f FILE` and `docker run IMAGE haproxy -c -f FILE` act as they do on Azure:
# - arguments that start with an option are haproxy's;
# - haproxy runs in master-worker mode (-W: reloads on SIGUSR2, and SIGUSR1 is the image's stop
#   signal) and in the foreground (-db), as a container's main process must;
# - anything else runs as given.
set -e

case "$1" in
  -*) set -- haproxy "$@" ;;
esac

if [ "$1" = haproxy ]; then
  shift
  set -- haproxy -W -db "$@"
fi

exec "$@"
