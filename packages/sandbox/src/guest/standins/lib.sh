# Shared by the sandbox's stand-ins (sourced, never run). POSIX sh: the guest's /bin/sh is dash
# on Ubuntu. The sandbox writes /run/bakehouse-guest/ before every command:
#   clock  "<speed>"                  sandbox seconds per real second
#   boot   "<real epoch ms>"          when boot (cloud-init) finishes
#   locks  "<from ms> <until ms> <pid> <name>" per window in which something holds the apt/dpkg locks
# The repository (read-only) is in $REPO; the package database is a text file in the guest.
G=/usr/libexec/bakehouse-guest
REPO=$G/repo
RUN=/run/bakehouse-guest
set -f

now_ms() { date +%s%3N; }
clock_speed() {
  cs_speed=1
  [ -r "$RUN/clock" ] && read -r cs_speed _ < "$RUN/clock"
  echo "$cs_speed"
}
# Real milliseconds that N sandbox seconds take.
sandbox_ms() { awk -v n="$1" -v s="$(clock_speed)" 'BEGIN { if (s <= 0) s = 1; printf "%d", n * 1000 / s }'; }
sleep_ms() {
  if [ "$1" -gt 0 ]; then sleep "$(awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }')"; fi
  return 0
}
boot_done_ms() { cat "$RUN/boot" 2>/dev/null || echo 0; }

# ---- the installed-package database: "name version release arch origin" per line ----
# (Shell built-ins only where it is cheap: every process started in a guest costs milliseconds.)
db_line() {
  while read -r dl_name dl_rest; do
    if [ "$dl_name" = "$1" ]; then echo "$dl_name $dl_rest"; return 0; fi
  done < "$DB"
  return 1
}
db_has() { db_line "$1" >/dev/null; }
db_put() {
  db_tmp="$DB.new.$$"
  awk -v n="$1" '$1 != n' "$DB" > "$db_tmp"
  echo "$*" >> "$db_tmp"
  LC_ALL=C sort "$db_tmp" > "$DB"
  rm -f "$db_tmp"
}
# Installs the candidate lines of file $1 ("name version release arch origin ...") at once.
db_merge() {
  db_tmp="$DB.new.$$"
  awk 'FNR == NR { new[$1] = $1 " " $2 " " $3 " " $4 " " $5; next }
       !($1 in new) { print }
       END { for (n in new) print new[n] }' "$1" "$DB" | LC_ALL=C sort > "$db_tmp"
  cat "$db_tmp" > "$DB"
  rm -f "$db_tmp"
}
# Puts the files of the packages listed in file $1 (first column) on the guest.
list_files() {
  for lf_name in $(awk 'FNR == NR { want[$1] = 1; next } FILENAME ~ /files$/ && ($1 in want) { print $1 }
                        FILENAME ~ /services$/ && ($2 in want) { print $2 }
                        FILENAME ~ /services$/ { next }' "$1" "$REPO/files" "$REPO/services" | LC_ALL=C sort -u); do
    pkg_files "$lf_name"
  done
  if grep -q '^system-release ' "$1"; then pkg_files system-release; fi
}
db_del() {
  db_tmp="$DB.new.$$"
  awk -v n="$1" '$1 != n' "$DB" > "$db_tmp"
  cat "$db_tmp" > "$DB"
  rm -f "$db_tmp"
}
# Does name match one of the glob patterns in $2 (space-separated)? Empty list: no.
matches_any() {
  ma_ifs=$IFS
  IFS=' ,'
  for mp in $2; do
    case $1 in $mp) IFS=$ma_ifs; return 0 ;; esac
  done
  IFS=$ma_ifs
  return 1
}
# A temporary file name (no process started).
tmpname() { tn_count=$(( ${tn_count:-0} + 1 )); echo "/tmp/.bakehouse-$$-$tn_count"; }

# ---- files packages put on the guest ----
unit_file() {
  for ud in /etc/systemd/system /usr/lib/systemd/system; do
    if [ -e "$ud/$1.service" ]; then echo "$ud/$1.service"; return 0; fi
  done
  return 1
}
unit_enable() {
  uf=$(unit_file "$1") || return 1
  mkdir -p /etc/systemd/system/multi-user.target.wants
  if [ ! -L "/etc/systemd/system/multi-user.target.wants/$1.service" ]; then
    ln -s "$uf" "/etc/systemd/system/multi-user.target.wants/$1.service"
    echo "Created symlink /etc/systemd/system/multi-user.target.wants/$1.service → $uf."
  fi
}
pkg_files() {
  awk -v n="$1" '$1 == n { print $2, $3 }' "$REPO/files" | while read -r kind path; do
    mkdir -p "$(dirname "$path")"
    case $kind in
      bin) ln -sf "$G/bin/$(basename "$path")" "$path" ;;
      conf) [ -e "$path" ] || printf '# %s: installed by %s\n' "$path" "$1" > "$path" ;;
    esac
  done
  awk -v n="$1" '$2 == n { print $1, $3 }' "$REPO/services" | while read -r unit enabled; do
    mkdir -p /usr/lib/systemd/system
    if ! unit_file "$unit" >/dev/null; then
      printf '[Unit]\nDescription=%s\n\n[Install]\nWantedBy=multi-user.target\n' "$unit" > "/usr/lib/systemd/system/$unit.service"
      if [ "$enabled" = enabled ]; then unit_enable "$unit" >/dev/null; fi
    fi
  done
  if [ "$1" = system-release ] && [ -w /etc/amazon-linux-release ]; then
    rv=$(db_line system-release | cut -d' ' -f2)
    echo "Amazon Linux release $rv (Amazon Linux)" > /etc/amazon-linux-release
    sed -i -e "s/^PRETTY_NAME=.*/PRETTY_NAME=\"Amazon Linux $rv\"/" -e "s/^BUILD_ID=.*/BUILD_ID=\"$rv\"/" /etc/os-release
  fi
}
pkg_unfiles() {
  awk -v n="$1" '$1 == n && $2 == "bin" { print $3 }' "$REPO/files" | while read -r path; do rm -f "$path"; done
  awk -v n="$1" '$2 == n { print $1 }' "$REPO/services" | while read -r unit; do
    rm -f "/usr/lib/systemd/system/$unit.service" "/etc/systemd/system/multi-user.target.wants/$unit.service"
  done
}

# ---- the apt/dpkg locks (Ubuntu) ----
# "until pid name" of the window holding the locks at real time $1, if any.
lock_holder() { awk -v now="$1" '$1 <= now && now < $2 { print $2, $3, $4; exit }' "$RUN/locks" 2>/dev/null; }
lock_fail() {
  printf 'E: Could not get lock %s. It is held by process %s (%s)\n' "$1" "$2" "$3" >&2
  echo 'N: Be aware that removing the lock file is not a solution and may break your system.' >&2
  case $1 in
    /var/lib/apt/lists/lock) echo 'E: Unable to lock directory /var/lib/apt/lists/' >&2 ;;
    *) echo 'E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?' >&2 ;;
  esac
  exit 100
}
# The DPkg::Lock::Timeout apt was given: -o on the command line ($LOCK_TIMEOUT), else apt.conf.d.
lock_timeout() {
  if [ -n "${LOCK_TIMEOUT:-}" ]; then echo "$LOCK_TIMEOUT"; return; fi
  cat /etc/apt/apt.conf /etc/apt/apt.conf.d/* 2>/dev/null |
    sed -n 's/^[[:space:]]*[Dd][Pp][Kk][Gg]::[Ll][Oo][Cc][Kk]::[Tt][Ii][Mm][Ee][Oo][Uu][Tt][[:space:]]*"\{0,1\}\([0-9-]*\)"\{0,1\}.*/\1/p' | tail -n 1
}
# Takes lock $1 (a path, for messages) or fails at once (exit 100), or waits up to the timeout.
apt_lock() {
  al_timeout=$(lock_timeout)
  al_timeout=${al_timeout:-0}
  if [ "$al_timeout" -lt 0 ] 2>/dev/null; then al_timeout=31536000; fi
  al_deadline=$(( $(now_ms) + $(sandbox_ms "$al_timeout") ))
  al_said=''
  while :; do
    al_now=$(now_ms)
    al_held=$(lock_holder "$al_now")
    [ -z "$al_held" ] && return 0
    al_until=${al_held%% *}
    al_rest=${al_held#* }
    al_pid=${al_rest%% *}
    al_name=${al_rest#* }
    if [ -z "$al_said" ] && [ "$al_timeout" -gt 0 ]; then
      printf 'Waiting for cache lock: Could not get lock %s. It is held by process %s (%s)...\n' "$1" "$al_pid" "$al_name" >&2
      al_said=1
    fi
    [ "$al_now" -ge "$al_deadline" ] && lock_fail "$1" "$al_pid" "$al_name"
    al_wake=$al_until
    [ "$al_deadline" -lt "$al_wake" ] && al_wake=$al_deadline
    sleep_ms $(( al_wake - al_now ))
  done
}
