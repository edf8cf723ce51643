#!/bin/busybox sh
# /init of the real-guest kit's initramfs: virtio-net up with the address from the kernel
# command line (nicmig.ip=ADDRESS/PREFIX), then the guest agent (UDP echo, memory workload,
# serial console). If the agent ever exits, init exits and the kernel panics: a test sees a
# guest that stopped answering, never one quietly half-alive.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for module in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net; do
  insmod "/lib/modules/$module.ko" || echo "NICMIG error insmod $module" >/dev/ttyS0
done
address=$(sed -n 's/.*nicmig\.ip=\([^ ]*\).*/\1/p' /proc/cmdline)
ip link set lo up
ip link set eth0 up
[ -n "$address" ] && ip addr add "$address" dev eth0
exec /bin/nicmig-guest
