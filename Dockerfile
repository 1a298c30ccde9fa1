# Squash Proxy container image.
#
#   docker build -t squash-proxy .
#   docker run -d --name squash-proxy -p 5000:5000 -p 127.0.0.1:5001:5001 -v squash-cache:/data squash-proxy
#   docker pull localhost:5000/library/nginx:latest
#
# The image runs `serve --config /etc/squash-proxy/config.yaml` (deploy/container/squash-proxy.yaml: a Docker
# Hub mirror, registry API on 0.0.0.0:5000, admin on 0.0.0.0:5001, cache on the /data volume) as uid 10001.
# Arguments after the image name replace that command: `docker run ... squash-proxy serve --config
# /etc/squash-proxy/config.yaml --upstream https://ghcr.io`. JVM flags: JAVA_OPTS (replaces the defaults below).
#
# Both base images are build arguments; tests/.../ContainerImageTest builds this file with Debian stand-ins:
#   --build-arg BUILD_IMAGE=<Debian + openjdk-17-jdk-headless + maven>
#   --build-arg RUNTIME_IMAGE=<Debian + openjdk-17-jre-headless>
ARG BUILD_IMAGE=maven:3.9-eclipse-temurin-17
ARG RUNTIME_IMAGE=eclipse-temurin:17-jre

# --- build ------------------------------------------------------------------------------------------------
FROM ${BUILD_IMAGE} AS build
WORKDIR /src

# The health probe (changes least, so first).
COPY deploy/container/HealthCheck.java healthcheck/
RUN javac --release 17 -d /out/healthcheck healthcheck/HealthCheck.java

# The poms alone, then a package of the still empty modules: it downloads every dependency and plugin the real
# build uses, in a layer that is rebuilt only when a pom changes. (dependency:go-offline cannot do this: it
# tries to download the reactor's own modules.) All module poms are needed for the reactor; only the proxy
# and the modules it depends on are built (-pl proxy -am), with test classes compiled but not run: the proxy
# module's test scope needs squash-core's test-jar.
COPY pom.xml ./
COPY squash-core/pom.xml squash-core/
COPY config/pom.xml config/
COPY proxy/pom.xml proxy/
COPY tests/pom.xml tests/
RUN mvn -B -q -DskipTests -pl proxy -am package \
 && rm -rf squash-core/target config/target proxy/target

# The sources, built offline from the layer above.
COPY squash-core/src squash-core/src
COPY config/src config/src
COPY proxy/src proxy/src
RUN mvn -B -q -o -DskipTests -pl proxy -am package \
 && cp proxy/target/squash-proxy.jar /out/squash-proxy.jar

# --- runtime ----------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}

# A user and group 10001, squash (useradd on Debian and Ubuntu bases, BusyBox adduser on Alpine), and the
# cache directory it owns. A named or anonymous volume mounted at /data starts with this owner.
RUN set -eu; \
    if command -v useradd >/dev/null 2>&1; then \
      groupadd --gid 10001 squash; \
      useradd --uid 10001 --gid 10001 --no-log-init --home-dir /home/squash --create-home \
        --shell /usr/sbin/nologin squash; \
    else \
      addgroup -S -g 10001 squash; \
      adduser -S -D -u 10001 -G squash -h /home/squash -s /sbin/nologin squash; \
    fi; \
    mkdir -p /data /etc/squash-proxy /opt/squash-proxy; \
    chown 10001:10001 /data; \
    chmod 0750 /data

COPY --from=build /out/healthcheck/ /opt/squash-proxy/healthcheck/
COPY --from=build /out/squash-proxy.jar /opt/squash-proxy/squash-proxy.jar
COPY deploy/container/squash-proxy.yaml /etc/squash-proxy/config.yaml

# C.UTF-8: file names are UTF-8 for the JVM. JAVA_OPTS: the heap takes at most 60% of the container's memory
# limit (Netty's direct buffers and the page cache need the rest); an OutOfMemoryError ends the process so
# that the container restarts instead of limping on.
ENV LANG=C.UTF-8 \
    JAVA_OPTS="-XX:MaxRAMPercentage=60 -XX:+ExitOnOutOfMemoryError"

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 5000 5001

# GET http://127.0.0.1:5001/healthz (SQUASH_HEALTHCHECK_URL overrides it) with a JVM, since the base need not
# have curl or wget; a probe takes about 0.2 s.
HEALTHCHECK --interval=15s --timeout=10s --start-period=60s --retries=3 \
  CMD ["java", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData", "-cp", "/opt/squash-proxy/healthcheck", "HealthCheck"]

# exec: java is PID 1 and gets docker stop's SIGTERM (the proxy shuts down cleanly on it).
ENTRYPOINT ["/bin/sh", "-c", "exec java $JAVA_OPTS -jar /opt/squash-proxy/squash-proxy.jar \"$@\"", "squash-proxy"]
CMD ["serve", "--config", "/etc/squash-proxy/config.yaml"]
