# syntax=docker/dockerfile:1
#
# leadline container image: one node, embedded sled database on the /data volume.
#
#   docker build -t leadline .
#   docker run -d -p 8080:8080 -v leadline-data:/data \
#     -e LEADLINE_ADMIN_TOKEN -e LEADLINE_WEBHOOK_SECRET leadline
#
# CI builds and runs this image on every run (.ci/docker, called by .ci/run): the CI machines
# have no Docker engine and no registry, so it uses podman with stand-in base images made by
# debootstrap under the FROM names below. Keep this file plain Dockerfile syntax (nothing that
# only podman or only BuildKit understands) so it builds the same with Docker and the official
# images. See docs/docker.md.

############################ builder ############################
FROM rust:1-bookworm AS builder
WORKDIR /src

# 1) Dependencies only: the manifests and the lockfile, with stub sources, so this layer
#    stays cached until Cargo.toml / Cargo.lock change. cargo checks that every target a
#    manifest declares exists, so each declared [[bin]] / [[bench]] gets a stub too: when you
#    add a target to Cargo.toml or actors/Cargo.toml, add its stub here.
COPY Cargo.toml Cargo.lock ./
COPY actors/Cargo.toml actors/Cargo.toml
RUN mkdir -p src/bin actors/src benches actors/benches \
 && for f in src/main.rs src/bin/leadline-load.rs benches/signature.rs actors/benches/core.rs; do \
      echo 'fn main() {}' > "$f"; \
    done \
 && touch src/lib.rs actors/src/lib.rs \
 && cargo build --release --locked --bin leadline \
 && rm -rf src actors/src

# 2) The real sources. config.toml is compiled in as the built-in defaults
#    (include_str! in src/config.rs), actors/data holds the embedded area-code table.
COPY config.toml ./
COPY src src
COPY actors/src actors/src
COPY actors/data actors/data
# COPY keeps the files' modification times, which can be older than the stub build above;
# touch them so cargo rebuilds the two workspace crates instead of reusing the stubs.
RUN find src actors/src -name '*.rs' -exec touch {} + \
 && cargo build --release --locked --bin leadline \
 && cp target/release/leadline /usr/local/bin/leadline

############################ runtime ############################
FROM debian:bookworm-slim AS runtime

# ca-certificates: reqwest uses rustls with the bundled webpki roots, so this is not strictly
# needed, but it is small and keeps TLS working if that ever changes.
# curl: only for the HEALTHCHECK below (bookworm-slim has none).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 leadline \
 && useradd --system --uid 10001 --gid leadline --home-dir /data --shell /usr/sbin/nologin leadline \
 && mkdir -p /data /etc/leadline \
 && chown leadline:leadline /data \
 && chmod 0700 /data

COPY --from=builder /usr/local/bin/leadline /usr/local/bin/leadline
# The shipped configuration (identical to the built-in defaults). Mount your own file over it,
# or override single keys with LEADLINE__SECTION__KEY environment variables.
COPY config.toml /etc/leadline/config.toml

# The database and the dry-run record live on the volume; listen on all interfaces inside
# the container. Secrets (LEADLINE_ADMIN_TOKEN, LEADLINE_WEBHOOK_SECRET, TWILIO_AUTH_TOKEN,
# TWILIO_ACCOUNT_SID, FUB_*, RESO_*) are passed at run time with -e, never baked into the
# image. On a non-loopback bind `serve` refuses to start without LEADLINE_WEBHOOK_SECRET
# (or LEADLINE__SERVER__ALLOW_UNSIGNED_WEBHOOKS=true when a proxy authenticates callers).
ENV LEADLINE__STORAGE__PATH=/data \
    LEADLINE__SERVER__BIND=0.0.0.0:8080

USER leadline
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080

# Liveness. If you change LEADLINE__SERVER__BIND's port, change it here too.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1

ENTRYPOINT ["leadline"]
CMD ["serve", "--config", "/etc/leadline/config.toml"]
