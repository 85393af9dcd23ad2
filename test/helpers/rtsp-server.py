#!/usr/bin/python3
"""A test RTSP server on 127.0.0.1 serving live H.264 (GStreamer's gst-rtsp-server, Debian packages).

Usage: rtsp-server.py PORT [WIDTHxHEIGHT] [FPS] [BITRATE_KBPS] [PATTERN]
Prints "READY rtsp://127.0.0.1:PORT/test" once it listens; stops on SIGTERM/SIGINT.
"""
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

port = sys.argv[1] if len(sys.argv) > 1 else "8554"
size = sys.argv[2] if len(sys.argv) > 2 else "640x360"
fps = sys.argv[3] if len(sys.argv) > 3 else "30"
bitrate = sys.argv[4] if len(sys.argv) > 4 else "1000"
# "ball" compresses to almost nothing; "snow" (noise) fills whatever bitrate is allowed.
pattern = sys.argv[5] if len(sys.argv) > 5 else "ball"
width, height = size.split("x")

Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
if pattern.startswith("file:"):
    # A pre-encoded H.264 Matroska file, played in real time (the server syncs on its clock): no encoder
    # competing for the CPU with what is being measured.
    launch = (
        f"( filesrc location={pattern[5:]} ! matroskademux ! h264parse config-interval=-1 "
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
else:
    launch = (
        f"( videotestsrc is-live=true pattern={pattern} ! video/x-raw,width={width},height={height},framerate={fps}/1 "
        f"! x264enc tune=zerolatency speed-preset=ultrafast bitrate={bitrate} key-int-max={int(fps) * 2} bframes=0 "
        "! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
factory.set_launch(launch)
factory.set_shared(True)
server.get_mount_points().add_factory("/test", factory)
if server.attach(None) == 0:
    print(f"ERROR cannot listen on 127.0.0.1:{port}", flush=True)
    sys.exit(1)
loop = GLib.MainLoop()
GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}/test", flush=True)
loop.run()
