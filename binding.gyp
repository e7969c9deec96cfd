{
  "variables": {
    "mip4_bench%": "<!(node -p \"require('fs').existsSync('bench/native/reg_loadgen.c') ? 1 : 0\")"
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
        "native/udp-gso.c"
      ],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags!": ["-O3"],
      "defines": ["NAPI_VERSION=8"]
    }
  ],
  "conditions": [
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
