{
  "variables": { "sanitize%": "false", "faults%": "false" },
  "targets": [
    {
      "target_name": "blockcopy",
      "sources": [
        "native/addon.cc",
        "native/glibc_floor.c",
        "native/binding/convert.cc",
        "native/binding/copy_sync.cc",
        "native/binding/extent_stream.cc",
        "native/binding/extents.cc",
        "native/binding/job_run.cc",
        "native/binding/native_copy.cc",
        "native/binding/native_digest.cc",
        "native/binding/native_transfer.cc",
        "native/binding/progress_meter.cc",
        "native/binding/worker.cc",
        "native/engine/backend.cc",
        "native/engine/block_digest.cc",
        "native/engine/block_grid.cc",
        "native/engine/block_scan.cc",
        "native/engine/checksum.cc",
        "native/engine/copy.cc",
        "native/engine/copy_file_range.cc",
        "native/engine/copy_loop.cc",
        "native/engine/copy_plan.cc",
        "native/engine/descriptor_io.cc",
        "native/engine/destination.cc",
        "native/engine/extent_map.cc",
        "native/engine/extent_reader.cc",
        "native/engine/extent_window.cc",
        "native/engine/extent_writer.cc",
        "native/engine/fault_injection.cc",
        "native/engine/image_digest.cc",
        "native/engine/file.cc",
        "native/engine/frame_receiver.cc",
        "native/engine/frame_sender.cc",
        "native/engine/nbd_connection.cc",
        "native/engine/nbd_copy.cc",
        "native/engine/nbd_export.cc",
        "native/engine/nbd_reply_check.cc",
        "native/engine/nbd_target.cc",
        "native/engine/pread_io.cc",
        "native/engine/progress.cc",
        "native/engine/qemu_nbd.cc",
        "native/engine/range_lock.cc",
        "native/engine/reflink.cc",
        "native/engine/source.cc",
        "native/engine/throttle.cc",
        "native/engine/uring.cc",
        "native/engine/uring_copy.cc",
        "native/engine/page_cache.cc",
        "native/engine/zero_detect.cc",
        "native/engine/verify.cc",
        "native/engine/worker_pool.cc",
        "native/engine/zero_range.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: a call into JS that fails because
      # the environment is going away (a worker thread terminated) throws an
      # ordinary Napi::Error instead of ending the process.
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "_FILE_OFFSET_BITS=64", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-fvisibility=hidden", "-Wall", "-Wextra", "-O2"],
      "ldflags": ["-static-libstdc++", "-static-libgcc", "-Wl,--version-script=<(module_root_dir)/native/exports.map"],
      "conditions": [
        ["faults=='true'", { "defines": ["BLOCKCOPY_FAULT_INJECTION"] }],
        # Sanitizer builds link libstdc++ dynamically and are never shipped: the
        # glibc floor (native/glibc_floor.c) stays out of the way of ASan's
        # pthread_create interceptor.
        ["sanitize=='true'", {
          "defines+": ["BLOCKCOPY_NO_GLIBC_FLOOR"],
          "cflags_cc+": ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer", "-g"],
          "ldflags+": ["-fsanitize=address,undefined"],
          "ldflags!": ["-static-libstdc++", "-static-libgcc"]
        }]
      ]
    }
  ]
}
