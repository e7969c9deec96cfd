# mip4 in a container: the npm package, built and installed as `npm i -g` would, on node:20-slim.
#
#   docker build -t mip4 .
#   docker run --rm mip4 demo
#   docker run -d --name mip4-ha --cap-drop ALL --cap-add NET_ADMIN --cap-add NET_RAW \
#     --cap-add NET_BIND_SERVICE --device /dev/net/tun --sysctl net.ipv4.ip_forward=1 \
#     -v /etc/mip4:/etc/mip4:ro mip4 ha --config /etc/mip4/ha.yaml
#
# Nothing is fetched at run time. docs/operations.md "Install and run" has the details.

# Build stage: the full Node image has g++, make and python3 for node-gyp, and Node's headers in
# /usr/local/include/node, so the native IO helper compiles without downloading anything.
FROM node:20-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Dependencies only (the helper is built once, below, by the package's own install script).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
# npm pack empties and rebuilds dist/ (prepack, prepare): the tarball a registry would hold.
RUN npm pack --pack-destination /tmp \
 && MIP4_NATIVE_REQUIRED=1 npm install --global --prefix /opt/mip4 --no-audit --no-fund /tmp/mip4-*.tgz \
 && /opt/mip4/bin/mip4 --version

# Run stage: Node and the installed package; iproute2 for the mobile node's address and route
# changes (io/linux/mn-host.ts). The compiler stays behind in the build stage.
FROM node:20-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /etc/mip4 /run/mip4 /var/lib/mip4 \
 && chmod 0750 /etc/mip4 /run/mip4 /var/lib/mip4
COPY --from=build /opt/mip4 /opt/mip4
ENV PATH=/opt/mip4/bin:$PATH
# Root inside the container, holding only what `docker run --cap-add` grants: Docker gives a
# non-root user no ambient capabilities, and the daemons need CAP_NET_ADMIN and CAP_NET_RAW.
ENTRYPOINT ["mip4"]
CMD ["--help"]
