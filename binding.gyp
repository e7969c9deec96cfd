{
  "targets": [
    {
      "target_name": "mip4_io",
      "sources": ["native/mip4_io.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags!": ["-O3"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
