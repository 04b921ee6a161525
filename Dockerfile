# execvisor serve in a container. docs/deploy.md explains what the sandbox needs from the
# container runtime (user namespaces, a seccomp and AppArmor profile that let bubblewrap work).
#
#   docker build -t execvisor .
#   docker run --rm -p 127.0.0.1:8765:8765 -v "$PWD/token:/run/secrets/execvisor-token:ro" \
#     --security-opt seccomp=unconfined --security-opt apparmor=unconfined execvisor
#
# On Kubernetes: docs/deploy/kubernetes/ (its Deployment passes its own arguments to `serve`).

# ---- build: node-pty's native module, our spawner addon and the launcher are compiled here,
# against the same base as the runtime ----
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ musl-tools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# binding.gyp and its source first: npm ci builds execvisor-launcher (the sandbox's first program).
COPY package.json package-lock.json binding.gyp ./
COPY src/native ./src/native
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workers ./workers
COPY bench ./bench
RUN npm run build && npm prune --omit=dev

# ---- runtime -------------------------------------------------------------------------------
FROM node:20-bookworm-slim
# bubblewrap: the Linux sandbox. tini: PID 1 reaps orphaned grandchildren and forwards SIGTERM.
# (perl, which the orphan reaper uses, is part of every Debian image.)
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/build/Release/execvisor-launcher ./build/Release/execvisor-launcher
COPY --from=build /app/build/Release/execvisor_spawn.node ./build/Release/execvisor_spawn.node
COPY LICENSE README.md ./
# Commands run as this user, in directories it can write (mount workspaces under /workspace).
RUN mkdir /workspace && chown node:node /workspace
USER node
WORKDIR /workspace
EXPOSE 8765
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/src/cli/main.js", "serve"]
# A non-loopback address needs a token: mount it as a file (or set EXEC_SERVER_TOKEN).
CMD ["--listen", "ws://0.0.0.0:8765", "--token-file", "/run/secrets/execvisor-token", "--log-level", "info"]
