#!/usr/bin/env bash
# kvs-put against a real V4L2 driver, on a machine without a camera: `npm run camera-vm`.
#
# Boots Debian's kernel in QEMU with Linux's vivid test driver, a virtual camera the kernel's V4L2 stack
# serves as it serves a webcam (capture, output and metadata nodes, mmap streaming, disconnects), and runs
# scripts/camera-vm-guest.sh there against this checkout: `doctor --device` on each kind of node, a refused
# metadata node, a capture uploaded to the in-process local KVS and read back, an unplug, and a camera busy
# with another program. The guest's root is this machine's / (read-only over 9p), so it runs this build with
# this machine's node and ffmpeg. Not part of `npm test`: it downloads a kernel package and runs for minutes.
# `scripts/camera-vm.sh OTHER-SCRIPT` runs another bash script in the guest instead (vivid is not loaded then).
#
# Needs Debian packages: qemu-system-x86 busybox-static cpio kmod v4l-utils (apt-get install -y …), and apt
# to download linux-image-amd64's kernel (~70 MB, kept in the work directory). QEMU emulates the CPU (TCG)
# unless KVS_CAMERA_VM_ACCEL=kvm: nested KVM may not work inside a VM. Exits 1 when a check fails.
# Work directory: $KVS_CAMERA_VM_DIR, else ~/.cache/kvs-put/camera-vm.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
guest_script=$(realpath "${1:-$root/scripts/camera-vm-guest.sh}")
work=${KVS_CAMERA_VM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kvs-put/camera-vm}
accel=${KVS_CAMERA_VM_ACCEL:-tcg}

for tool in qemu-system-x86_64 busybox cpio depmod modprobe v4l2-ctl apt-get; do
  if ! command -v "$tool" > /dev/null; then
    echo "camera-vm: $tool is missing: apt-get install -y qemu-system-x86 busybox-static cpio kmod v4l-utils" >&2
    exit 2
  fi
done
if [ ! -f "$root/dist/kvs-put.cjs" ]; then
  echo "camera-vm: build first (npm run build)" >&2
  exit 2
fi
mkdir -p "$work"

# The kernel package linux-image-amd64 points at, unpacked into $work/kernel, with its module index.
package=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
release=${package#linux-image-}
kernel_dir=$work/kernel
if [ ! -f "$kernel_dir/boot/vmlinuz-$release" ]; then
  echo "camera-vm: downloading $package"
  (cd "$work" && apt-get download "$package" > /dev/null)
  rm -rf "$kernel_dir"
  dpkg-deb -x "$work/${package}"_*.deb "$kernel_dir"
  depmod -b "$kernel_dir" "$release"
fi

# An initramfs that loads virtio and 9p, mounts this machine's / and runs the guest script chrooted there.
initrd=$work/initrd-$release.gz
if [ ! -f "$initrd" ]; then
  staging=$(mktemp -d)
  mkdir -p "$staging"/{bin,dev,proc,sys,newroot,modules}
  cp "$(command -v busybox)" "$staging/bin/busybox"
  for module in virtio_pci 9pnet_virtio 9p; do
    modprobe -d "$kernel_dir" -S "$release" --show-depends "$module"
  done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' > "$staging/modules/order"
  while read -r module; do cp "$module" "$staging/modules/"; done < "$staging/modules/order"
  sed -i 's|.*/||' "$staging/modules/order"
  cat > "$staging/init" << 'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t devtmpfs dev /dev; mount -t proc proc /proc; mount -t sysfs sys /sys
while read -r module; do insmod "/modules/$module"; done < /modules/order
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288,cache=loose root /newroot
mount -t proc proc /newroot/proc; mount -t sysfs sys /newroot/sys; mount -t devtmpfs dev /newroot/dev
ifconfig lo 127.0.0.1 up
env_file=$(sed -n 's/.*camera_vm_env=\([^ ]*\).*/\1/p' /proc/cmdline)
chroot /newroot /bin/bash -c ". '$env_file' && bash \"\$GUEST_SCRIPT\""
echo "camera-vm: guest script exited with $?"
poweroff -f
EOF
  chmod +x "$staging/init"
  (cd "$staging" && find . | cpio -o -H newc 2> /dev/null | gzip -1 > "$initrd")
  rm -rf "$staging"
fi

cat > "$work/run.env" << EOF
export GUEST_SCRIPT='$guest_script' KVS_PUT_ROOT='$root' KERNEL_DIR='$kernel_dir'
export PATH='$(dirname "$(command -v node)"):/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin'
EOF

echo "camera-vm: booting $release ($accel); the console is copied to $work/console.log"
accel_options=(-accel tcg,thread=multi -cpu max)
[ "$accel" = kvm ] && accel_options=(-accel kvm -cpu host)
timeout 1200 qemu-system-x86_64 "${accel_options[@]}" -m 2048 -smp 2 -nographic -no-reboot \
  -kernel "$kernel_dir/boot/vmlinuz-$release" -initrd "$initrd" \
  -append "console=ttyS0 quiet panic=-1 camera_vm_env=$work/run.env" \
  -virtfs local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap 2>&1 |
  sed -u 's/\r$//' | tee "$work/console.log" | grep --line-buffered -E '^(camera-vm|  (ok|FAIL)|---)'

grep -q '^camera-vm: all checks passed' "$work/console.log"
