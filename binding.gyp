{
  "targets": [
    {
      # The launch step between the server and a command: see src/native/launcher/launcher.c.
      # Linked statically so it runs inside sandboxes whose filesystem view hides /lib.
      "target_name": "execvisor-launcher",
      "type": "executable",
      "sources": ["src/native/launcher/launcher.c", "src/native/launcher/bridge.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "conditions": [["OS=='linux'", {"ldflags": ["-static"]}]]
    }
  ]
}
