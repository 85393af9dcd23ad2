#!/usr/bin/env bash
# Regenerates the small media fixtures in fixtures/mkv with ffmpeg (deterministic settings; the files are
# committed so tests do not depend on this script). Usage: npm run fixtures
set -euo pipefail
cd "$(dirname "$0")/../fixtures/mkv"
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }
video='testsrc2=size=320x240:rate=25'
tone='sine=frequency=440:sample_rate=48000'
x264=(-c:v libx264 -preset veryfast -pix_fmt yuv420p -bitexact)

# H.264 only, 3 s, keyframe every 1 s, no B-frames (what kvs-put's own capture produces).
ff -f lavfi -i "$video" -t 3 "${x264[@]}" -g 25 -bf 0 -flags +bitexact -fflags +bitexact h264.mkv
# H.264 + AAC, 3 s, keyframe every 1 s.
ff -f lavfi -i "$video" -f lavfi -i "$tone" -t 3 "${x264[@]}" -g 25 -bf 0 -c:a aac -b:a 64k \
  -flags +bitexact -fflags +bitexact h264-aac.mkv
# Long GOP: one keyframe every 25 s (longer than the service's 20 s fragment limit), tiny frames.
ff -f lavfi -i 'testsrc2=size=64x48:rate=5' -t 26 "${x264[@]}" -g 125 -keyint_min 125 -sc_threshold 0 -bf 0 \
  -flags +bitexact -fflags +bitexact long-gop.mkv
# B-frames: pts differs from dts.
ff -f lavfi -i "$video" -t 2 "${x264[@]}" -g 25 -bf 2 -flags +bitexact -fflags +bitexact bframes.mkv
# Starts with non-key frames: cut 0.6 s into a 2 s GOP, keeping the initial non-key frames.
ff -f lavfi -i "$video" -t 3 "${x264[@]}" -g 50 -bf 0 -flags +bitexact -fflags +bitexact /tmp/kvs-fixture-full.mkv
ff -i /tmp/kvs-fixture-full.mkv -ss 0.6 -c copy -copyinkf -flags +bitexact -fflags +bitexact nonkey-start.mkv
rm -f /tmp/kvs-fixture-full.mkv
# Truncated in the middle of a block.
head -c 20000 h264.mkv > truncated.mkv
# VP8 (not H.264: kvs-put refuses to upload it as-is).
ff -f lavfi -i "$video" -t 1 -c:v libvpx -b:v 200k -g 25 -flags +bitexact -fflags +bitexact vp8.mkv
# HEVC.
ff -f lavfi -i "$video" -t 2 -c:v libx265 -preset ultrafast -x265-params 'keyint=25:bframes=0:log-level=error' \
  -pix_fmt yuv420p -flags +bitexact -fflags +bitexact hevc.mkv
ls -l
