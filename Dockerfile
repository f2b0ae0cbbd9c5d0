# Herald's container image: herald-controller and herald-speaker in one image; the Helm
# chart (charts/herald) picks the binary with `command`. Build from the repository root:
#
#   docker build -t ghcr.io/herald-lb/herald:dev .
#
# Run the speaker with `--entrypoint /usr/local/bin/herald-speaker`.

# ---- build ----------------------------------------------------------------------------
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The release profile keeps line tables for the benchmarks; the image does not need them
# (function names stay for backtraces).
ENV CARGO_PROFILE_RELEASE_STRIP=debuginfo
RUN cargo build --release --locked -p herald-controller -p herald-speaker \
 && install -D -m 0755 target/release/herald-controller /out/herald-controller \
 && install -D -m 0755 target/release/herald-speaker /out/herald-speaker

# ---- run ------------------------------------------------------------------------------
# Debian 12 with glibc and libgcc, as the binaries need (no OpenSSL: TLS is rustls), no
# shell, user nonroot (65532). The controller runs as that user; the chart runs the
# speaker as UID 0 with only NET_ADMIN, NET_RAW and NET_BIND_SERVICE.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="herald" \
      org.opencontainers.image.description="Herald: LoadBalancer addresses for bare-metal Kubernetes, announced over BGP" \
      org.opencontainers.image.source="https://github.com/herald-lb/herald" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
# Admin HTTP server (/metrics, /livez, /readyz) of both binaries.
EXPOSE 7472
ENTRYPOINT ["/usr/local/bin/herald-controller"]
