{
  "targets": [
    {
      "target_name": "vip_packet",
      "sources": ["native/packet.c"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]
    }
  ]
}
