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

# push_many PREFIX TAG N: pushes N distinct one-layer images PREFIX0..PREFIX<N-1>:TAG in one curl process
# (one shared layer and config, cross-mounted into each repository; the manifests differ by an annotation);
# prints one repo@digest per line.
push_many() {
  local prefix=$1 tag=$2 n=$3 i base ref ld cd m cfg="$work/push-many.curl"
  ref=$(push "${prefix}base" "$tag")
  base="${ref%@*}"; base="${base#"$host"/}"
  ld=$(jq -r '.layers[0].digest' "$work/manifest.json"); cd=$(jq -r '.config.digest' "$work/manifest.json")
  mkdir -p "$work/many"
  : > "$cfg"
  for ((i = 0; i < n; i++)); do
    m="$work/many/$i.json"
    jq -c --arg a "$tag/$i" '. + {annotations: {"org.opencontainers.image.ref.name": $a}}' "$work/manifest.json" > "$m"
    printf 'next\nurl = "http://%s/v2/%s%d/blobs/uploads/?mount=%s&from=%s"\nrequest = "POST"\noutput = "/dev/null"\n' "$host" "$prefix" "$i" "$ld" "$base" >> "$cfg"
    printf 'next\nurl = "http://%s/v2/%s%d/blobs/uploads/?mount=%s&from=%s"\nrequest = "POST"\noutput = "/dev/null"\n' "$host" "$prefix" "$i" "$cd" "$base" >> "$cfg"
    printf 'next\nurl = "http://%s/v2/%s%d/manifests/%s"\nrequest = "PUT"\nupload-file = "%s"\nheader = "Content-Type: application/vnd.oci.image.manifest.v1+json"\noutput = "/dev/null"\n' "$host" "$prefix" "$i" "$tag" "$m" >> "$cfg"
  done
  sed -i '1d' "$cfg" # no "next" before the first URL
  curl -fsS -K "$cfg" || { echo "bench: pushing $n images failed" >&2; return 1; }
  for ((i = 0; i < n; i++)); do echo "$host/$prefix$i@sha256:$(sha256sum "$work/many/$i.json" | cut -d' ' -f1)"; done
}
