# Image for the stage workers of docker-compose.yml (untested here: no Docker engine on our machines).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci
COPY . .
RUN npm run build
ENTRYPOINT []
