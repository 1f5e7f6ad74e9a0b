# Runs the image's heartbeat resource script lbaddr (overlays/common/etc/ha.d/resource.d/lbaddr)
# the way heartbeat does, far from the host: run by lbaddr.test.ts under `unshare --mount --net
# --fork`, so eth0, /etc/ha.d and /run are this namespace's own. heartbeat's real
# ResourceManager answers whether this unit owns the resource (it reads the script's status
# words). Prints one "step=result" line per step.
# usage: sh lbaddr-check.sh SCRIPT WORK_DIR
set -u
script="$1"; work="$2"
ip link set lo up
ip link add eth0 type veth peer name eth0peer
ip addr add 192.0.2.1/24 dev eth0
ip link set eth0peer up
cp -a /etc/ha.d "$work/ha.d"
cp "$script" "$work/ha.d/resource.d/lbaddr"
mount --bind "$work/ha.d" /etc/ha.d
mount -t tmpfs tmpfs /run
RM=/usr/share/heartbeat/ResourceManager
held() { ip -o -4 addr show dev eth0 | grep -c " inet $1 " ; }
owns() { HA_LOGFACILITY= HA_DEBUGLOG=/dev/null HA_LOGFILE=/dev/null "$RM" status "lbaddr::$1" >/dev/null 2>&1; echo $?; }
r=lbaddr::192.0.2.100/24/eth0
echo "owned-before=$(owns 192.0.2.100/24/eth0)"
echo "status-before=$(/etc/ha.d/resource.d/lbaddr 192.0.2.100/24/eth0 status)"
/etc/ha.d/resource.d/lbaddr 192.0.2.100/24/eth0 start; echo "start=$?"
/etc/ha.d/resource.d/lbaddr 192.0.2.100/24/eth0 start; echo "start-again=$?"
echo "held=$(held 192.0.2.100/24)"
echo "brd=$(ip -o -4 addr show dev eth0 | grep ' inet 192.0.2.100/24 ' | sed -n 's/.* brd \([0-9.]*\).*/\1/p')"
echo "link=$(cat /sys/class/net/eth0/operstate)"
echo "owned=$(owns 192.0.2.100/24/eth0)"
/etc/ha.d/resource.d/lbaddr 198.51.100.7/32/eth0 start; echo "start-32=$?"
echo "held-32=$(held 198.51.100.7/32)"
/etc/ha.d/resource.d/lbaddr 192.0.2.100/24/eth0 stop; echo "stop=$?"
/etc/ha.d/resource.d/lbaddr 192.0.2.100/24/eth0 stop; echo "stop-again=$?"
echo "held-after=$(held 192.0.2.100/24)"
echo "owned-after=$(owns 192.0.2.100/24/eth0)"
echo "primary-kept=$(held 192.0.2.1/24)"
# All floating addresses as one resource, as haresources holds them: "running" only when every
# one is held, so a takeover with one missing starts the group, and start adds just that one.
both="192.0.2.100/24/eth0 198.51.100.8/32/eth0"
/etc/ha.d/resource.d/lbaddr 198.51.100.8/32/eth0 start >/dev/null
echo "group-partial=$(/etc/ha.d/resource.d/lbaddr $both status)"
echo "group-owned-partial=$(owns 192.0.2.100/24/eth0::198.51.100.8/32/eth0)"
/etc/ha.d/resource.d/lbaddr $both start; echo "group-start=$?"
echo "group-held=$(held 192.0.2.100/24)$(held 198.51.100.8/32)"
echo "group-owned=$(owns 192.0.2.100/24/eth0::198.51.100.8/32/eth0)"
/etc/ha.d/resource.d/lbaddr $both stop; echo "group-stop=$?"
echo "group-held-after=$(held 192.0.2.100/24)$(held 198.51.100.8/32)"
# lb-ha-watch and heartbeat's ResourceManager start the group at the same moment on a takeover:
# whichever adds an address second must still succeed.
pids= rcs=
for i in 1 2 3 4 5 6; do /etc/ha.d/resource.d/lbaddr $both start 2>/dev/null & pids="$pids $!"; done
for p in $pids; do wait "$p"; rcs="$rcs$?"; done
echo "group-race=$rcs"
echo "group-race-held=$(held 192.0.2.100/24)$(held 198.51.100.8/32)"
/etc/ha.d/resource.d/lbaddr $both stop >/dev/null
/etc/ha.d/resource.d/lbaddr 192.0.2.100/24/nosuch0 start; echo "start-no-device=$?"
/etc/ha.d/resource.d/lbaddr 192.0.2.100/24/eth0 192.0.2.101/24/nosuch0 start 2>/dev/null; echo "group-start-no-device=$?"
/etc/ha.d/resource.d/lbaddr 192.0.2.100/24/eth0 192.0.2.101/24/nosuch0 stop; echo "group-stop-after-failure=$?"
/etc/ha.d/resource.d/lbaddr 192.0.2.100 start >/dev/null 2>&1; echo "usage=$?"
/etc/ha.d/resource.d/lbaddr 192.0.2.100/24/eth0 restart >/dev/null 2>&1; echo "usage-op=$?"
sleep 1.5 # send_arp's five ARPs, 200 ms apart, end before the namespace goes
