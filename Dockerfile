# syntax=docker/dockerfile:1
#
# Relance as one static binary in a distroless image:
#   1. Node builds the admin UI into frontend/dist;
#   2. Go builds ./app with that UI embedded (frontend/embed.go);
#   3. the final image holds the binary alone, running as a non-root user.
#
#   docker build -t relance .
#   docker run --rm --env-file relance.env relance migrate   # release step, before each deploy
#   docker run --env-file relance.env -p 8080:8080 relance           # serve (default command)
#   docker run --env-file relance.env relance worker                 # asynq worker and periodic jobs
#
# The image has no shell, so it cannot chain `migrate && serve`: run
# `relance migrate` as a release step (a one-off container, a Kubernetes init
# container, a platform's release command). Migrations are idempotent.

FROM node:20-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=frontend /src/frontend/dist ./frontend/dist
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/relance ./app

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/relance /relance
ENV PORT=8080
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/relance"]
CMD ["serve"]
