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
    },
    {
      # The native spawner (src/native/): clone + exec, terminals, pidfd exit watches.
      "target_name": "execvisor_spawn",
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-O2", "-fno-exceptions"],
      "conditions": [
        ["OS=='linux'", {
          "sources": [
            "src/native/addon.cc",
            "src/native/data-fd.cc",
            "src/native/exit-watch.cc",
            "src/native/loop-state.cc",
            "src/native/pipe-reader.cc",
            "src/native/spawn.cc",
            "src/native/terminal.cc"
          ]
        }, {
          "sources": ["src/native/unsupported.cc"]
        }]
      ]
    }
  ]
}
