# Multi-stage: compile TypeScript with dev dependencies, ship only the compiled code and the
# production dependencies, run as a non-root user. One image for every ROLE.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev
# The bundled NLU model is trained here, once: workers load it in milliseconds at start.
RUN node dist/src/cli/train.js --out models/bundled.model.json

FROM node:20-bookworm-slim
ENV NODE_ENV=production PORT=3000 NLU_MODEL=/app/models/bundled.model.json
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/models ./models
USER node
EXPOSE 3000
# SIGTERM goes straight to node (no shell), which drains before exiting.
CMD ["node", "dist/src/main.js"]
