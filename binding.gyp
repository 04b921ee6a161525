{
  "targets": [
    {
      # The launch step between the server and a command: see src/native/launcher/launcher.c.
      # Linked statically so it runs inside sandboxes whose filesystem view hides /lib; on Linux by
      # build.sh, with musl where it is installed (a cheaper start-up than glibc's: see build.sh).
      "target_name": "execvisor-launcher",
      "conditions": [
        ["OS=='linux'", {
          "type": "none",
          "actions": [{
            "action_name": "link_launcher",
            "inputs": [
              "src/native/launcher/build.sh",
              "src/native/launcher/launcher.c",
              "src/native/launcher/bridge.c",
              "src/native/launcher/bridge.h",
              "src/native/launcher/os-error.c",
              "src/native/launcher/os-error.h"
            ],
            "outputs": ["<(PRODUCT_DIR)/execvisor-launcher"],
            "action": [
              "sh",
              "src/native/launcher/build.sh",
              "<(PRODUCT_DIR)/execvisor-launcher",
              "src/native/launcher/launcher.c",
              "src/native/launcher/bridge.c",
              "src/native/launcher/os-error.c"
            ]
          }]
        }, {
          "type": "executable",
          "sources": [
            "src/native/launcher/launcher.c",
            "src/native/launcher/bridge.c",
            "src/native/launcher/os-error.c"
          ],
          "cflags": ["-O2", "-Wall", "-Wextra"]
        }]
      ]
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
