# Starts the real heartbeat on a rendered /etc/ha.d, far from the host: run by heartbeat.test.ts
# under `unshare --mount --uts --net --ipc --pid --fork`, so its host name, network (a veth
# "eth0" with the unit's address), /etc/ha.d, /run and /var/lib/heartbeat are the test's own, a
# pty stands in for the serial port, and everything dies with this script.
# heartbeat validates ha.cf, authkeys and haresources, then daemonizes: exit 0 means it accepted
# them and started, non-zero (6) a configuration error.
# usage: sh heartbeat-check.sh HA_D_DIR HOSTNAME ADDRESS/PREFIX STATE_DIR
set -eu
cfg="$1"; host="$2"; addr="$3"; state="$4"
hostname "$host"
ip link set lo up
ip link add eth0 type veth peer name eth0peer
ip addr add "$addr" dev eth0
ip link set eth0 up
ip link set eth0peer up
mount --bind "$cfg" /etc/ha.d
for d in api casual ccm ckpt cores crm pengine; do mkdir -p "$state/lib/$d"; done
mount --bind "$state/lib" /var/lib/heartbeat
mount -t tmpfs tmpfs /run
mkdir -p /run/heartbeat/ccm /run/heartbeat/crm /run/heartbeat/dopd /run/heartbeat/rsctmp /run/lock
serial=$(sed -n 's/^serial //p' "$cfg/ha.cf")
if [ -n "$serial" ]; then
  socat pty,raw,echo=0,link="$state/tty0" pty,raw,echo=0,link="$state/tty1" &
  for i in $(seq 1 50); do [ -e "$state/tty0" ] && break; sleep 0.1; done
  pty=$(readlink -f "$state/tty0")
  if [ ! -e "$serial" ]; then
    # The host has no such port (e.g. the rack unit's /dev/ttyS1): this namespace gets a /dev of
    # its own that has it; nothing is created in the host's /dev.
    mkdir -p "$state/dev"
    mount -t tmpfs tmpfs "$state/dev"
    for n in null zero full random urandom tty ptmx; do
      touch "$state/dev/$n"
      mount --bind "/dev/$n" "$state/dev/$n"
    done
    mkdir "$state/dev/pts"
    mount --bind /dev/pts "$state/dev/pts"
    touch "$state/dev/${serial#/dev/}"
    mount --bind "$pty" "$state/dev/${serial#/dev/}"
    mount --rbind "$state/dev" /dev
  else
    mount --bind "$pty" "$serial"
  fi
fi
rc=0
/usr/libexec/heartbeat/heartbeat -d >"$state/log" 2>&1 || rc=$?
cat "$state/log"
echo "heartbeat-exit=$rc"
