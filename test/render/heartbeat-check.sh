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
  mount --bind "$(readlink -f "$state/tty0")" "$serial"
fi
rc=0
/usr/libexec/heartbeat/heartbeat -d >"$state/log" 2>&1 || rc=$?
cat "$state/log"
echo "heartbeat-exit=$rc"
