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
