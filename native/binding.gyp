{
  "targets": [
    {
      "target_name": "netvm_native",
      "sources": ["src/addon.cc", "src/xdp.cc"],
      "cflags_cc": ["-O2", "-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}
