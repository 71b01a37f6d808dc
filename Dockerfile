# One crebito API instance. docker-compose.yml runs two of these behind nginx,
# with PostgreSQL; the image runs the same entry point the local launcher
# starts for each instance (dist/src/instance/main.js), built from the same
# lockfile. It builds and ships only the instance (src/instance, src/shared):
# not the launcher, not the tools.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.instance.json ./
COPY src/instance ./src/instance
COPY src/shared ./src/shared
RUN npm run build:instance \
 # The embedded PostgreSQL binaries are an optional dependency: compose
 # brings its own PostgreSQL, so the runtime image leaves them out.
 && npm prune --omit=dev --omit=optional

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
EXPOSE 8080
CMD ["node", "dist/src/instance/main.js"]
