#!/usr/bin/env bash
# Runs inside the VM of scripts/camera-vm.sh, as root, with this machine's / as its read-only root: loads
# vivid and checks kvs-put against its nodes. Each check prints `  ok` or `  FAIL`; the last line says
# whether all passed. Environment (from camera-vm.sh): KVS_PUT_ROOT, KERNEL_DIR.
set -uo pipefail

failures=0
check() { # check NAME CONDITION-STATUS DETAIL
  if [ "$2" = 0 ]; then echo "  ok    $1: $3"; else echo "  FAIL  $1: $3"; failures=$((failures + 1)); fi
}

modprobe -d "$KERNEL_DIR" vivid || { echo 'camera-vm: vivid did not load'; exit 1; }
mount -t tmpfs run /run
export HOME=/run/home XDG_CACHE_HOME=/run/home/.cache TMPDIR=/run/home
mkdir -p "$HOME"
cd "$KVS_PUT_ROOT" || exit 1
kvs_put() { node bin/kvs-put.js "$@"; }
camera_line() { grep -E '^ *(ok|FAIL) +camera ' <<< "$1" | sed -E 's/^ *(ok|FAIL) +camera +//'; }

# vivid's nodes by the names its driver gives them: video capture, video output, metadata capture.
node_named() {
  for dir in /sys/class/video4linux/video*; do
    [ "$(cat "$dir/name")" = "$1" ] && echo "/dev/${dir##*/}"
  done
}
camera=$(node_named vivid-000-vid-cap)
output=$(node_named vivid-000-vid-out)
metadata=$(node_named vivid-000-meta-cap)
echo "--- vivid: capture $camera, output $output, metadata $metadata; $(ffmpeg -version | head -1)"

# JSON lines of a run → one fact, computed by node (summary, acks, restarts).
facts() { # facts FILE EXPRESSION, with `events` the parsed lines
  node -e "const events = require('fs').readFileSync(process.argv[1], 'utf8').trim().split('\n').filter(Boolean).map(JSON.parse);
    const one = (name) => events.find((event) => event.event === name) ?? {};
    process.stdout.write(String($2));" "$1"
}

echo '--- doctor --device on each kind of node'
out=$(kvs_put doctor --no-aws --device "$camera" 2>&1)
check 'doctor, capture node' $? "$(camera_line "$out")"
grep -q 'offers yuyv422' <<< "$out"
check 'doctor lists yuyv422 first' $? '--input-format can ask for it'
for node in "$output" "$metadata"; do
  out=$(kvs_put doctor --no-aws --device "$node" 2>&1)
  code=$?
  [ "$code" = 7 ] && grep -q 'is not a video capture device' <<< "$out"
  check "doctor, $(cat "/sys/class/video4linux/${node#/dev/}/name")" $? "exit $code: $(camera_line "$out")"
done

echo '--- a capture from the metadata node ends at once (no restarts)'
start=$SECONDS
out=$(kvs_put --local --stream meta --device "$metadata" --duration 60 2>&1)
code=$?
[ "$code" = 7 ] && [ $((SECONDS - start)) -lt 30 ] && grep -q "^kvs-put: $metadata is not a video capture device" <<< "$out"
check 'metadata node refused' $? "exit $code after $((SECONDS - start)) s: $(grep -E '^(kvs-put:|  hint:)' <<< "$out" | tr -s '\n ' ' ')"

echo '--- a format the camera does not offer ends at once (vivid offers raw formats only)'
start=$SECONDS
out=$(kvs_put --local --stream h264 --device "$camera" --input-format h264 --duration 60 2>&1)
code=$?
[ "$code" = 2 ] && [ $((SECONDS - start)) -lt 30 ] && grep -q "^kvs-put: camera $camera does not offer h264" <<< "$out"
check '--input-format h264 refused' $? "exit $code after $((SECONDS - start)) s: $(grep -E '^(kvs-put:|  hint:)' <<< "$out" | tr -s '\n ' ' ')"

echo '--- a size the camera does not offer: it chooses, and kvs-put says which'
out=$(kvs_put --local --stream size --device "$camera" --video-size 1234x777 --duration 8 2>&1)
code=$?
[ "$code" = 0 ] && grep -q '^source: video V_MPEG4/ISO/AVC [0-9]*x[0-9]* (asked for 1234x777: the camera chose' <<< "$out"
check 'size the camera chose' $? "exit $code: $(grep '^source:' <<< "$out")"

echo '--- 40 s from the camera, unplugged at 15 s, read back with GetMedia'
kvs_put --local --stream cam --device "$camera" --video-size 640x360 --framerate 15 --input-format yuyv422 \
  --duration 40 --verify --json > "$HOME/cam.json" 2> "$HOME/cam.err" &
pid=$!
sleep 15
v4l2-ctl -d "$camera" -c disconnect=1
wait $pid
check 'capture exit code' $? "$(tail -1 "$HOME/cam.err")"
restarts=$(facts "$HOME/cam.json" "events.filter((event) => event.event === 'source-restart').length")
[ "$restarts" -ge 1 ]
check 'unplug restarts ffmpeg' $? "$restarts restart(s): $(facts "$HOME/cam.json" "one('source-restart').reason")"
fragments=$(facts "$HOME/cam.json" "one('summary').fragments")
lost=$(facts "$HOME/cam.json" "one('summary').dropped + one('summary').unacknowledged")
[ "$fragments" -ge 12 ] && [ "$lost" = 0 ]
check 'fragments acknowledged' $? "$fragments fragments, $lost dropped or unacknowledged"
stored=$(facts "$HOME/cam.json" "one('summary').framesStored")
read_back=$(facts "$HOME/cam.json" "one('verify').frames")
[ "$stored" = "$read_back" ] && [ "$stored" -gt 0 ]
check 'GetMedia reads back every frame' $? "$stored frames sent, $read_back read back"
increasing=$(facts "$HOME/cam.json" "events.filter((event) => event.event === 'ack' && event.EventType === 'RECEIVED')
  .map((event) => event.FragmentTimecode).every((timecode, i, all) => i === 0 || timecode > all[i - 1])")
[ "$increasing" = true ]
check 'fragment timecodes increase across the unplug' $? "$increasing"

echo "--- the camera busy with another program for its first 15 s; its own format; stopped with SIGINT"
ffmpeg -hide_banner -loglevel error -f v4l2 -i "$camera" -t 15 -f null - &
sleep 3
# node itself, not the function: the signal goes to kvs-put, not to a subshell.
node bin/kvs-put.js --local --stream busy --device "$camera" --video-size 640x360 --json > "$HOME/busy.json" 2> "$HOME/busy.err" &
pid=$!
sleep 35
kill -INT $pid
wait $pid
check 'SIGINT: exit 0 after the last acks' $? "$(tail -1 "$HOME/busy.err")"
wait
unacknowledged=$(facts "$HOME/busy.json" "one('summary').unacknowledged")
[ "$unacknowledged" = 0 ]
check 'SIGINT: every fragment acknowledged' $? "$unacknowledged unacknowledged"
restarts=$(facts "$HOME/busy.json" "events.filter((event) => event.event === 'source-restart').length")
fragments=$(facts "$HOME/busy.json" "one('summary').fragments")
[ "$restarts" -ge 1 ] && [ "$fragments" -ge 3 ]
check 'waits for a busy camera' $? "$restarts restart(s) ($(facts "$HOME/busy.json" "one('source-restart').reason")), then $fragments fragments"

if [ "$failures" = 0 ]; then echo 'camera-vm: all checks passed'; else echo "camera-vm: $failures check(s) failed"; fi
