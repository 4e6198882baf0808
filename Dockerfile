# Multi-stage: compile TypeScript with the dev dependencies, ship only the compiled code and the
# production dependencies (no PGlite, no pino-pretty, no test tools), run as the non-root node
# user. One image for every ROLE, and the tools: `docker run IMAGE ordered-chatbot <command>`.
# Node 24: the active LTS (the project also runs and is tested on Node 20.12+, README "Runtime").
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund
# The bundled NLU model is trained here, once: workers load it in milliseconds at start.
RUN node dist/src/cli/index.js train --out models/bundled.model.json

FROM node:24-bookworm-slim
# DATA_DIR under /tmp: the only writable place with a read-only root filesystem (an emptyDir
# in Kubernetes, a tmpfs in compose); `train` writes its models there by default.
ENV NODE_ENV=production PORT=3000 NLU_MODEL=/app/models/bundled.model.json DATA_DIR=/tmp/ordered-chatbot
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/models ./models
# The tools on the PATH, as package.json's bin names them: ordered-chatbot migrate|train|eval|export|admin-user.
RUN ln -s /app/dist/src/cli/index.js /usr/local/bin/ordered-chatbot
USER node
EXPOSE 3000
# /healthz: the process answers; /readyz: Redis answers (the image has no curl: Node's fetch).
# Kubernetes uses its own probes; Docker and compose use this.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "const u='http://127.0.0.1:'+(process.env.PORT||3000);Promise.all(['/healthz','/readyz'].map(p=>fetch(u+p).then(r=>{if(!r.ok)throw new Error(p+' '+r.status)}))).then(()=>process.exit(0),e=>{console.error(e.message);process.exit(1)})"]
# SIGTERM goes straight to node (no shell), which drains before exiting.
CMD ["node", "dist/src/main.js"]
