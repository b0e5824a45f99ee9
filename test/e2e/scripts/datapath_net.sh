#!/usr/bin/env bash
# The net data path from the shell: dev/vhost-vdpa-0 opened read-write is
# the device's vhost user (the built-in driver); each write() is one frame
# sent on tx, each read() one frame looped back on rx (or nothing).
source "$(dirname "$0")/lib.sh"
trap 'exec 3>&- 2>/dev/null' EXIT
classic_kernel

hex() { xxd -p | tr -d '\n'; }
# A frame: destination MAC, source 00:11:22:33:44:55, EtherType IPv4, "hello".
frame() { printf "$1"'\x00\x11\x22\x33\x44\x55\x08\x00hello'; }
BCAST='\xff\xff\xff\xff\xff\xff'
OTHER='\x02\x00\x00\x00\x00\xaa'

step "a broadcast frame written to the node comes back on read, header stripped"
exec 3<> "$DEV/vhost-vdpa-0" || fail "cannot open dev/vhost-vdpa-0"
frame "$BCAST" >&3 || fail "write of a frame failed"
expect_eq "looped-back frame" "$(frame "$BCAST" | hex)" "$(timeout 5 cat <&3 | hex)"
expect_eq "nothing more waiting" "" "$(timeout 5 cat <&3 | hex)"

step "a frame to another MAC is dropped by the filter and counted in vstats"
frame "$OTHER" >&3
expect_eq "dropped frame" "" "$(timeout 5 cat <&3 | hex)"
expect_eq "vstats rx" "vdpa0: queue_type control_vq rx packets 1 rx bytes 31 rx errors 0 rx overruns 0 rx drops 1 " \
  "$(vdpa dev vstats show vdpa0 qidx 0)"
expect_eq "vstats tx -j" '{"vstats":{"vdpa0":{"queue_type":"tx","tx packets":2,"tx bytes":62,"tx errors":0,"tx drops":0}}}' \
  "$(vdpa -j dev vstats show vdpa0 qidx 1)"
expect_eq "vstats cvq" "vdpa0: queue_type rx cvq requests 0 cvq successes 0 cvq errors 0 " "$(vdpa dev vstats show vdpa0 qidx 2)"
# iproute2 6.1's vstats prints the kernel's error but exits 0.
expect_cmd_err 0 "*Invalid argument*" vdpa dev vstats show vdpa0 qidx 3

step "multicast passes; several frames queue up and come out in order, one per read"
frame '\x01\x00\x5e\x00\x00\x01' >&3
frame "$BCAST" >&3
out=$(timeout 5 cat <&3 | hex)
expect_eq "two frames" "$(frame '\x01\x00\x5e\x00\x00\x01' | hex)$(frame "$BCAST" | hex)" "$out"

step "a second open is refused with EBUSY"
expect_cmd_err 1 "*Device or resource busy" bash -c "exec 4<> '$DEV/vhost-vdpa-0'"

step "config show while open: negotiated features; text and -j with iproute2's field names"
expect_eq "config" "vdpa0: mac 00:00:00:00:00:00 link up link_announce false mtu 1500 
  negotiated_features MTU MAC STATUS CTRL_VQ CTRL_MAC_ADDR VERSION_1 ACCESS_PLATFORM" "$(vdpa dev config show vdpa0)"
expect_eq "config -j" '{"config":{"vdpa0":{"mac":"00:00:00:00:00:00","link ":"up","link_announce ":false,"mtu":1500,"negotiated_features":["MTU","MAC","STATUS","CTRL_VQ","CTRL_MAC_ADDR","VERSION_1","ACCESS_PLATFORM"]}}}' \
  "$(vdpa -j dev config show vdpa0)"

step "vdpa dev set mac: frames to the new MAC pass the filter"
expect_ok vdpa dev set name vdpa0 mac 02:00:00:00:00:aa
frame "$OTHER" >&3
expect_eq "frame to the device's MAC" "$(frame "$OTHER" | hex)" "$(timeout 5 cat <&3 | hex)"
expect_eq "config after set" "vdpa0: mac 02:00:00:00:00:aa link up link_announce false mtu 1500 " \
  "$(vdpa dev config show vdpa0 | head -1)"
expect_cmd_err 1 "*Invalid MAC address*" vdpa dev set name vdpa0 mac 01:00:00:00:00:01

step "close resets the device: no negotiated features, vstats EAGAIN; the counters stay"
exec 3>&-
expect_eq "config after close" "vdpa0: mac 02:00:00:00:00:aa link up link_announce false mtu 1500 " "$(vdpa dev config show vdpa0)"
expect_cmd_err 0 "*Resource temporarily unavailable*" vdpa dev vstats show vdpa0 qidx 0
exec 3<> "$DEV/vhost-vdpa-0"
# The open only claims the device; the first read (nothing waiting: 0 bytes) brings the shell's driver up.
expect_eq "first read after reopen" "" "$(timeout 5 cat <&3 | hex)"
expect_eq "vstats after reopen" "vdpa0: queue_type control_vq rx packets 4 rx bytes 124 rx errors 0 rx overruns 0 rx drops 1 " \
  "$(vdpa dev vstats show vdpa0 qidx 0)"
exec 3>&-

step "a device added with mac and mtu shows them"
expect_ok vdpa dev add name vdpa1 mgmtdev vdpasim_net mac 52:54:00:00:00:01 mtu 9000
expect_eq "config vdpa1" "vdpa1: mac 52:54:00:00:00:01 link up link_announce false mtu 9000 " "$(vdpa dev config show vdpa1)"
exec 3<> "$DEV/vhost-vdpa-1"
frame '\x52\x54\x00\x00\x00\x01' >&3
expect_eq "frame to vdpa1's MAC" "$(frame '\x52\x54\x00\x00\x00\x01' | hex)" "$(timeout 5 cat <&3 | hex)"
exec 3>&-
step "close() then open() at once never fails EBUSY: 300 processes each open and exit, the next opens at once"
busy=0
for i in $(seq 300); do
  ( exec 3<> "$DEV/vhost-vdpa-0" ) 2>/dev/null || busy=$((busy + 1))
done
expect_eq "opens that found the device busy" 0 "$busy"
echo "net data path passed"
