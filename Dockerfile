# todo-api container image: a static-enough release binary on Debian slim,
# running as a non-root user. Not built in CI (no container engine there);
# its build step is the same `cargo build --locked` that CI runs, in release.
#
#   docker build -t todo-api .
#   docker run -p 8000:8000 -e DATABASE_URL=postgres://… -e BETTER_AUTH_URL=https://app.example.com todo-api

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so that a source change does not rebuild them.
COPY Cargo.toml Cargo.lock build.rs ./
# How the bundled SQLite is compiled (.cargo/config.toml).
COPY .cargo ./.cargo
COPY migrations ./migrations
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --create-home todo
COPY --from=build /src/target/release/todo-api /usr/local/bin/todo-api
USER todo
WORKDIR /data
ENV API_HOST=0.0.0.0 \
    API_PORT=8000 \
    LOG_FORMAT=json \
    DATABASE_URL=sqlite:///data/todo.db
EXPOSE 8000
VOLUME ["/data"]
ENTRYPOINT ["todo-api"]
CMD ["serve"]
