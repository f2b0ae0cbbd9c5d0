# Image of the containerlab lab's nodes and client: Debian 12 (the glibc herald-speaker
# is built against here) with iproute2, python3 (backend.py) and curl. herald-speaker
# itself is bind-mounted from target/release, so rebuilding it needs no new image.
#
#   docker build -t herald-lab-node -f lab/containerlab/node.Dockerfile lab/containerlab
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 python3 curl ca-certificates procps openssl \
 && rm -rf /var/lib/apt/lists/*
