#!/usr/bin/env bash
# Builds the images the tests and the docker/ up-check use, FROM scratch out of this machine's own
# binaries, so nothing is pulled (CI has no registry for images):
#   msm-memcached:local  /usr/bin/memcached (stands in for memcached:1.6-alpine)
#   msm-redis:local      /usr/bin/redis-server (stands in for redis:7-alpine)
#   msm-node:local       node and npm (stands in for node:26-slim as docker/Dockerfile's base)
#   msm-nginx:local      nginx (stands in for nginx:1.27-alpine)
# Each has the shared libraries `ldd` lists and a static busybox as /bin/sh (testcontainers'
# readiness check and Dockerfile RUN lines need a shell) with its applets (env, rm, …) linked in.
# Needs memcached, redis-server, nginx, node and busybox-static installed. Usage: docker/local-images.sh [name…]
set -euo pipefail

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# copy_binary ROOT PATH: the file and every library `ldd` lists, at the same paths.
copy_binary() {
  local root=$1 file=$2 lib
  install -D -m 0755 "$(readlink -f "$file")" "$root$file"
  for lib in $(ldd "$file" | grep -o '/[^ ]*'); do
    [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
}

# base_rootfs ROOT: busybox as /bin/sh and its applets, users, /tmp.
base_rootfs() {
  local root=$1 applet
  install -D -m 0755 /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list-full); do
    [ -e "$root/$applet" ] || { mkdir -p "$root/$(dirname "$applet")" && ln -s /bin/busybox "$root/$applet"; }
  done
  mkdir -p "$root/etc" "$root/root" "$root/home/node" "$root/run"
  install -d -m 1777 "$root/tmp"
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'memcache:x:11211:11211::/tmp:/bin/false' 'redis:x:999:999::/data:/bin/false' \
    'node:x:1000:1000::/home/node:/bin/sh' 'nobody:x:65534:65534::/nonexistent:/bin/false' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'memcache:x:11211:' 'redis:x:999:' 'node:x:1000:' 'nogroup:x:65534:' >"$root/etc/group"
  chown 1000:1000 "$root/home/node"
}

# build NAME DOCKERFILE_TEXT: the image msm-NAME:local from $work/NAME.
build() {
  local name=$1 dockerfile=$2
  printf '%s\n' "$dockerfile" >"$work/$name/Dockerfile"
  # The output (with the client's notes about the legacy builder) only matters when it fails.
  docker build --tag "msm-$name:local" "$work/$name" >"$work/$name.log" 2>&1 || { cat "$work/$name.log" >&2 && exit 1; }
  echo "built msm-$name:local"
}

image_memcached() {
  local root=$work/memcached/rootfs
  base_rootfs "$root"
  copy_binary "$root" /usr/bin/memcached
  build memcached 'FROM scratch
COPY rootfs/ /
USER memcache
EXPOSE 11211
CMD ["memcached"]'
}

image_redis() {
  local root=$work/redis/rootfs
  base_rootfs "$root"
  copy_binary "$root" /usr/bin/redis-server
  install -d -o 999 -g 999 "$root/data"
  # As the official image: all interfaces, protected mode off (the container's network is the
  # boundary); and no persistence, so a restarted container comes back empty.
  build redis 'FROM scratch
COPY rootfs/ /
USER redis
WORKDIR /data
EXPOSE 6379
CMD ["redis-server", "--bind", "0.0.0.0", "--save", "", "--appendonly", "no", "--protected-mode", "no"]'
}

image_node() {
  local root=$work/node/rootfs node npm
  node=$(readlink -f "$(command -v node)")
  npm=$(readlink -f "$(dirname "$(readlink -f "$(command -v npm)")")/..")
  base_rootfs "$root"
  copy_binary "$root" "$node"
  [ "$node" = /usr/bin/node ] || ln -s "$node" "$root/usr/bin/node"
  mkdir -p "$root/usr/lib/node_modules"
  cp -a "$npm" "$root/usr/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/bin/npx"
  # The machine's CA certificates, so npm in the image trusts the registry as the machine does.
  install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  build node 'FROM scratch
COPY rootfs/ /
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
CMD ["node"]'
}

image_nginx() {
  local root=$work/nginx/rootfs
  base_rootfs "$root"
  copy_binary "$root" /usr/sbin/nginx
  mkdir -p "$root/etc/nginx" "$root/var/lib/nginx" "$root/var/log/nginx"
  # As in the official image: logs go to the container's output.
  ln -s /dev/stdout "$root/var/log/nginx/access.log"
  build nginx 'FROM scratch
COPY rootfs/ /
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]'
}

images=("$@")
[ $# -gt 0 ] || images=(memcached redis node nginx)
for image in "${images[@]}"; do
  case $image in
    memcached | redis | node | nginx) "image_$image" ;;
    *) echo "unknown image: $image (memcached, redis, node, nginx)" >&2 && exit 2 ;;
  esac
done
