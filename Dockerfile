# Every service's image: auth, tickets, orders, expiration, payments and
# client. One Dockerfile holds the Go pin and the build recipe for all of
# them; the build argument SERVICE names the service's folder, and
# skaffold.yaml passes it with each image (buildArgs). By hand, from the
# repository root:
#
#   docker build --build-arg SERVICE=tickets -t ticketing/tickets .
#
# The repository root is the build context so that the common module is in
# reach (see skaffold.yaml). SERVICE has no default: without it the build
# stops before it copies anything, with "SERVICE: is not allowed to be
# unset".
#
# The service builds as a module of its own (GOWORK=off; its go.mod replaces
# ticketing.dev/common with ../common), as `make test` proves every module can,
# so only common/ and the service's folder are copied and a change to another
# service does not rebuild this image (skaffold substitutes the build
# argument in the COPYs to learn which folders each image depends on).
# Modules and compiled packages live in BuildKit cache mounts rather than in
# a `go mod download` layer: a first build fetches only the modules the
# binary imports (not the servers the tests embed), and an edit recompiles
# only the packages it touches.
# The Go release is pinned to its patch version, here once for every
# service (the images test in infra/k8s checks the pin, and that any other
# Dockerfile would build with the same golang image).
FROM golang:1.26.8 AS build
# An ARG lives in the stage that declares it: the final stage below needs
# none, the binary having the same path in every image.
ARG SERVICE
# ${SERVICE:?} fails the build when the argument is missing or empty, where
# a plain ${SERVICE} would turn the COPY below into a copy of the whole
# context. It sits in an ENV because skaffold, listing the files an image
# depends on, substitutes build arguments only where written $NAME or
# ${NAME}, and expands the COPYs and WORKDIRs but not the ENVs.
ENV SERVICE=${SERVICE:?}
ENV CGO_ENABLED=0 GOWORK=off
WORKDIR /src
COPY common/ common/
COPY ${SERVICE}/ ${SERVICE}/
WORKDIR /src/${SERVICE}
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/service .

# A static binary on distroless: no shell, no package manager, user 65532.
# Distroless publishes no versioned tags: the name pins the Debian release
# and the tag the user, and only a digest pins more. Append one
# (@sha256:..., from `docker buildx imagetools inspect`) where the registry
# can be reached; the images test accepts it.
FROM gcr.io/distroless/static-debian12:nonroot
# Docker substitutes no variable in ENTRYPOINT's exec form (and distroless
# has no shell for the other): the binary is /service in every image.
COPY --from=build /out/service /service
USER nonroot:nonroot
# 9090: DEBUG_ADDR in Kubernetes, Prometheus metrics (no profiles there).
EXPOSE 3000 9090
ENTRYPOINT ["/service"]
