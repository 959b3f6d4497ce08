# Shared by bench parts (sourced, not run): Debian's docker-registry on a free loopback port, and pushing small images with curl.
# Needs $work (a temp dir the caller removes); sets $host and $regpid (the caller's EXIT trap kills it).

# registry_start: serves filesystem storage in $work/registry on 127.0.0.1:<free port>.
registry_start() {
  local port
  for _ in $(seq 100); do # a port nothing listens on (bash /dev/tcp)
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
  done
  host="127.0.0.1:$port"
  cat > "$work/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
  delete:
    enabled: true
http:
  addr: $host
  secret: bench
YML
  /usr/bin/docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
  regpid=$!
  for _ in $(seq 100); do curl -fsS "http://$host/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "http://$host/v2/" >/dev/null || { echo "bench: docker-registry did not start: $(tail -3 "$work/registry.log")" >&2; exit 1; }
}

# blob REPO FILE: uploads FILE as a blob (POST then PUT) and prints its digest.
blob() {
  local repo=$1 file=$2 d loc
  d="sha256:$(sha256sum "$file" | cut -d' ' -f1)"
  loc=$(curl -fsS -o /dev/null -D - -X POST "http://$host/v2/$repo/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  case $loc in http*) ;; *) loc="http://$host$loc" ;; esac
  case $loc in *\?*) loc="$loc&digest=$d" ;; *) loc="$loc?digest=$d" ;; esac
  curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$file" "$loc"
  echo "$d"
}

# push REPO TAG: pushes a one-layer OCI image with random content; prints repo@digest.
push() {
  local repo=$1 tag=$2 layer cfg ld cd m
  layer="$work/layer"; cfg="$work/config.json"; m="$work/manifest.json"
  head -c 4096 /dev/urandom | gzip -c > "$layer"
  ld=$(blob "$repo" "$layer")
  printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"config":{}}' "$(gzip -dc "$layer" | sha256sum | cut -d' ' -f1)" > "$cfg"
  cd=$(blob "$repo" "$cfg")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}]}' \
    "$cd" "$(stat -c %s "$cfg")" "$ld" "$(stat -c %s "$layer")" > "$m"
  curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$m" "http://$host/v2/$repo/manifests/$tag"
  echo "$host/$repo@sha256:$(sha256sum "$m" | cut -d' ' -f1)"
}
