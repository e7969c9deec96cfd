{
  "variables": {
    "mip4_bench%": "<!(node -p \"require('fs').existsSync('bench/native/reg_loadgen.c') ? 1 : 0\")",
    "mip4_libbpf%": "<!(node -p \"require('fs').existsSync('/usr/include/bpf/libbpf.h') ? 1 : 0\")"
  },
  "targets": [
    {
      "target_name": "mip4_io",
      "sources": [
        "native/mip4_io.c",
        "native/args.c",
        "native/tun.c",
        "native/reader.c",
        "native/sockets.c",
        "native/links.c",
        "native/link-events.c",
        "native/udp-gso.c",
        "native/socket-buffers.c"
      ],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags!": ["-O3"],
      "defines": ["NAPI_VERSION=8"]
    }
  ],
  "conditions": [
    # The tc-BPF loader is its own addon linking libbpf (libbpf-dev to build, libbpf1 to run), so
    # that mip4_io loads where libbpf is absent; without libbpf's headers it is not built and the
    # fast path reports itself unavailable (io/linux/bpf.ts).
    ["mip4_libbpf==1", {
      "targets": [
        {
          "target_name": "mip4_bpf",
          "sources": ["native/bpf-loader.c", "native/args.c"],
          "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
          "cflags!": ["-O3"],
          "defines": ["NAPI_VERSION=8"],
          "libraries": ["-lbpf"]
        }
      ]
    }],
    # The benchmark's C programs are built in a clone only: the npm package ships no bench/.
    ["mip4_bench==1", {
      "targets": [
        {
          "target_name": "reg_loadgen",
          "type": "executable",
          "sources": ["bench/native/reg_loadgen.c"],
          "cflags": ["-O2", "-Wall", "-Wextra"],
          "cflags!": ["-O3"],
          "libraries": ["-lm"]
        },
        {
          "target_name": "ref_tunnel",
          "type": "executable",
          "sources": ["bench/native/ref_tunnel.c"],
          "cflags": ["-O2", "-Wall", "-Wextra"],
          "cflags!": ["-O3"]
        }
      ]
    }]
  ]
}
