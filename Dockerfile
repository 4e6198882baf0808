# Multi-stage: compile TypeScript with dev dependencies, ship only the compiled code and the
# production dependencies, run as a non-root user. One image for every ROLE.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production PORT=3000
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000
# SIGTERM goes straight to node (no shell), which drains before exiting.
CMD ["node", "dist/src/main.js"]
