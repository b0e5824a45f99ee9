# Assertions for the end-to-end scripts. Each failure says what was
# expected and what came, then the script exits 1.
set -uo pipefail
: "${MNT:?MNT must name the vdpafs mount}"
SYS=$MNT/sys
DEV=$MNT/dev

fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
step() { printf '== %s\n' "$*"; }

# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
  [ "$2" == "$3" ] || fail "$1: expected [$2], got [$3]"
}

# expect_file PATH CONTENT: the file reads exactly CONTENT (a trailing newline is implied).
expect_file() {
  local got
  got=$(cat "$1") || fail "cannot read $1"
  [ "$got" == "$2" ] || fail "$1: expected [$2], got [$got]"
}

expect_exists() { [ -e "$1" ] || [ -L "$1" ] || fail "$1 should exist"; }
expect_absent() { { [ -e "$1" ] || [ -L "$1" ]; } && fail "$1 should not exist"; return 0; }
expect_link() {
  local got
  got=$(readlink "$1") || fail "$1 is not a symlink"
  [ "$got" == "$2" ] || fail "$1 -> expected [$2], got [$got]"
}
expect_mode() {
  local got
  got=$(stat -c %a "$1") || fail "cannot stat $1"
  [ "$got" == "$2" ] || fail "$1 mode: expected $2, got $got"
}

# expect_write_ok VALUE FILE: `echo VALUE > FILE` succeeds.
expect_write_ok() {
  local err
  err=$( { echo "$1" > "$2"; } 2>&1 ) || fail "echo $1 > $2 failed: $err"
}

# expect_write_err VALUE FILE MESSAGE: `echo VALUE > FILE` fails and bash
# prints "echo: write error: MESSAGE" (or the open error, for EACCES).
expect_write_err() {
  local err
  if err=$( { echo "$1" > "$2"; } 2>&1 ); then fail "echo $1 > $2 should fail with '$3'"; fi
  [[ "$err" == *"$3"* ]] || fail "echo $1 > $2: expected '$3', got '$err'"
}

# ---- Additions for the kernel, binding and mount suites ----

# expect_echo_err VALUE FILE MESSAGE: the builtin `echo VALUE > FILE` exits 1
# and bash's last word is exactly "echo: write error: MESSAGE".
expect_echo_err() {
  local err rc
  err=$( { echo "$1" > "$2"; } 2>&1 )
  rc=$?
  [ "$rc" -eq 1 ] || fail "echo $1 > $2: exit status $rc, expected 1 (said: $err)"
  [[ "$err" == *"echo: write error: $3" ]] || fail "echo $1 > $2: expected 'echo: write error: $3', got '$err'"
}

# expect_cmd_err STATUS MESSAGE CMD...: CMD exits with STATUS and prints MESSAGE
# (stdout and stderr together; MESSAGE may be a glob such as "*Permission denied").
expect_cmd_err() {
  local want=$1 msg=$2 out rc
  shift 2
  out=$("$@" 2>&1)
  rc=$?
  [ "$rc" -eq "$want" ] || fail "$*: exit status $rc, expected $want (said: $out)"
  # shellcheck disable=SC2053
  [[ "$out" == $msg ]] || fail "$*: expected output matching [$msg], got [$out]"
}

# expect_ok CMD...: CMD succeeds (its output is shown if not).
expect_ok() {
  local out
  out=$("$@" 2>&1) || fail "$* failed: $out"
}

# raw_write FILE DATA: exactly one write(2) of DATA (Perl double-quote
# escapes, so 'vdpa0\n' or 'vdpa0\0junk' work) on FILE opened O_WRONLY
# without O_TRUNC. Prints what write() returned, or the errno's name
# (ENODEV...). Perl's syswrite is one write(2); node and dd retry short
# writes, which would hide them.
raw_write() {
  perl -MFcntl -e '
    my ($path, $spec) = @ARGV;
    my $data = eval qq{"$spec"};
    sysopen(my $fh, $path, O_WRONLY) or do { print((sort grep { $!{$_} } keys %!)[0]); exit 0 };
    my $n = syswrite($fh, $data);
    print defined $n ? $n : (sort grep { $!{$_} } keys %!)[0];
  ' "$1" "$2"
}

# raw_write_n FILE N [CHAR]: one write(2) of N bytes of CHAR (default "a").
raw_write_n() {
  perl -MFcntl -e '
    my ($path, $n, $c) = @ARGV;
    sysopen(my $fh, $path, O_WRONLY) or do { print((sort grep { $!{$_} } keys %!)[0]); exit 0 };
    my $r = syswrite($fh, $c x $n);
    print defined $r ? $r : (sort grep { $!{$_} } keys %!)[0];
  ' "$1" "$2" "${3:-a}"
}

# reset_kernel [MODULE...]: unload every module, newest first (which deletes
# every vdpa device with its management module), then modprobe MODULEs.
reset_kernel() {
  local loaded
  loaded=$(vdpafs lsmod | awk 'NR > 1 { print $1 }' | tr '\n' ' ')
  if [ -n "${loaded// /}" ]; then
    # shellcheck disable=SC2086
    vdpafs rmmod $loaded > /dev/null || fail "reset: rmmod $loaded failed"
  fi
  if (($#)); then vdpafs modprobe "$@" || fail "reset: modprobe $* failed"; fi
  return 0
}

# classic_kernel: the state of the classic walkthrough (vdpa0 on vhost_vdpa).
classic_kernel() {
  reset_kernel vdpa vhost_vdpa vdpa_sim_net
  vdpa dev add name vdpa0 mgmtdev vdpasim_net || fail "vdpa dev add name vdpa0 failed"
}

# driver_of DEV: the driver a vdpa device is bound to, or "-" when unbound.
driver_of() {
  local l
  l=$(readlink "$SYS/bus/vdpa/devices/$1/driver" 2>/dev/null) || { echo -; return; }
  basename "$l"
}

# monitor_start FILE / monitor_stop: record uevents (vdpafs monitor --property) meanwhile.
MONITOR_PID=
monitor_start() {
  vdpafs monitor --property > "$1" 2>&1 &
  MONITOR_PID=$!
  local i
  for i in $(seq 100); do
    grep -q '^monitor will print' "$1" 2>/dev/null && return 0
    sleep 0.02
  done
  fail "vdpafs monitor did not start"
}
monitor_stop() {
  [ -n "$MONITOR_PID" ] || return 0
  sleep 0.1
  kill "$MONITOR_PID" 2>/dev/null
  wait "$MONITOR_PID" 2>/dev/null
  MONITOR_PID=
}
