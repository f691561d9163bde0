# peers.sh - OpenSMTPD and chasquid beside sallyport and Postfix in
# contrib/bench/run, and the strace check of whether a server fsyncs
# before its 250. Sourced by run (not executed); uses its helpers (say,
# bury, wait_greeting, wait_gone, tree_pids, W, CERT, KEY, HELO, FROM,
# TO_LOCAL).
#
# Both peers come from Debian's packages, unpacked with dpkg -x and run
# from the unpacked tree, never installed (opensmtpd conflicts with
# postfix as the system's MTA):
#
#   OpenSMTPD  smtpd -d -P mda -P mta: delivery paused from the start, so
#              every accepted message stays in queue/. Its spool
#              (/var/spool/smtpd), chroot (/var/lib/opensmtpd/empty) and
#              control socket (/var/run/smtpd.sock) are compiled in, and
#              so are its users (Debian's opensmtpd and opensmtpq): it runs
#              in a private mount namespace (unshare --mount) where
#              $W/os/var is bind-mounted on /var, and copies of /etc/passwd
#              and /etc/group with those two users added (when missing) on
#              the real ones. Nothing outside the bench's work directory
#              changes.
#   chasquid   its own configuration directory ($W/cq/etc: the bench's
#              certificate, the domain example.test with the user bench),
#              its data directory under $W/cq. Its queue takes at most 200
#              messages in flight (a constant in its source; the 201st
#              hears "451 Queue size too big"), so it cannot hold a run's
#              mail the way the others do: it delivers every message at
#              once to its mail delivery agent, dd of=/dev/null (reads the
#              message, exits 0; one fork and exec per message, chasquid's
#              design), and the messages it took are the "queued" lines of
#              its mail log for the run. Its CPU includes the agent's.

PEER_DEBS=$build/bench-debs	# kept between runs: fetched outside the namespace
OS_PORT=22030
CQ_PORT=22031
OS_OK=no OS_WHY="not set up"
CQ_OK=no CQ_WHY="not set up"
OS_PID=
CQ_PID=

# peers_fetch - outside the namespace: apt-get download each peer's package
# into PEER_DEBS (PKG.deb), or write why not into PKG.why.
peers_fetch() {
	local p f
	mkdir -p "$PEER_DEBS"
	for p in opensmtpd chasquid; do
		rm -f "$PEER_DEBS/$p.why"
		[ -s "$PEER_DEBS/$p.deb" ] && continue
		rm -rf "$PEER_DEBS/tmp"
		mkdir -p "$PEER_DEBS/tmp"
		if (cd "$PEER_DEBS/tmp" && apt-get download "$p") >"$PEER_DEBS/$p.log" 2>&1; then
			f=$(ls "$PEER_DEBS/tmp"/"${p}"_*.deb 2>/dev/null | head -1 || true)
			[ -n "$f" ] && mv "$f" "$PEER_DEBS/$p.deb"
		fi
		if [ ! -s "$PEER_DEBS/$p.deb" ]; then
			echo "apt-get download $p failed: $(grep -E '^E:' "$PEER_DEBS/$p.log" | head -1)" >"$PEER_DEBS/$p.why"
			say "not measured: $(cat "$PEER_DEBS/$p.why")"
		fi
		rm -rf "$PEER_DEBS/tmp"
	done
}

# peer_unpack PKG DIR - dpkg -x the fetched package; non-zero with the
# reason on stdout when it cannot be used.
peer_unpack() {
	local p=$1 dir=$2 missing
	if [ -s "$PEER_DEBS/$p.why" ]; then cat "$PEER_DEBS/$p.why"; return 1; fi
	[ -s "$PEER_DEBS/$p.deb" ] || { echo "no package fetched"; return 1; }
	rm -rf "$dir"
	mkdir -p "$dir"
	dpkg -x "$PEER_DEBS/$p.deb" "$dir" 2>&1 | tail -1 || true
	return 0
}

# libs_missing BIN - the shared libraries BIN needs that this machine lacks.
libs_missing() { ldd "$1" 2>/dev/null | awk '/not found/ { printf "%s ", $1 }'; }

# --- OpenSMTPD --------------------------------------------------------------

OS_DIR=$W/os
OS_BIN=$OS_DIR/root/usr/sbin/smtpd
OS_SPOOL=$OS_DIR/var/spool/smtpd

os_setup() {
	local m u
	OS_WHY=$(peer_unpack opensmtpd "$OS_DIR/root") || return 0
	[ -x "$OS_BIN" ] || { OS_WHY="no usr/sbin/smtpd in the package"; return 0; }
	m=$(libs_missing "$OS_BIN")
	[ -z "$m" ] || { OS_WHY="libraries missing: $m"; return 0; }
	mkdir -p "$OS_DIR/var/spool" "$OS_DIR/var/lib/opensmtpd/empty" "$OS_DIR/var/run" \
		"$OS_DIR/etc"
	chmod 755 "$OS_DIR" "$OS_DIR/var" "$OS_DIR/var/lib" "$OS_DIR/var/lib/opensmtpd"
	cp /etc/passwd /etc/group "$OS_DIR/etc/"
	# Debian's build runs as opensmtpd and keeps its queue as opensmtpq.
	for u in opensmtpd:64711 opensmtpq:64712; do
		if ! getent passwd "${u%%:*}" >/dev/null; then
			echo "${u%%:*}:x:${u#*:}:${u#*:}:bench only:/var/lib/opensmtpd/empty:/usr/sbin/nologin" \
				>>"$OS_DIR/etc/passwd"
			echo "${u%%:*}:x:${u#*:}:" >>"$OS_DIR/etc/group"
		fi
	done
	cat >"$OS_DIR/smtpd.conf" <<EOF
# written by contrib/bench/run: a private instance; delivery is paused
# (smtpd -P mda -P mta), so the relay host below is never contacted.
pki mail.example.test cert "$CERT"
pki mail.example.test key "$KEY"
listen on 127.0.0.1 port $OS_PORT hostname mail.example.test tls pki mail.example.test
# smtp-source does not hold a session to exactly PERCONN messages (one that
# finishes early sends more); the others have no limit per session.
smtp limit max-mails 100000
action "hold" relay host "smtp://127.0.0.1:22099"
match from src 127.0.0.0/8 for domain "example.test" action "hold"
EOF
	if ! os_ns "$OS_BIN" -n -f "$OS_DIR/smtpd.conf" >"$W/logs/opensmtpd-check.log" 2>&1; then
		OS_WHY="smtpd -n failed: $(tail -1 "$W/logs/opensmtpd-check.log")"
		return 0
	fi
	OS_OK=yes OS_WHY=
}

# os_ns CMD... - CMD in a private mount namespace with the bench's /var and
# user database in place.
os_ns() {
	unshare --mount -- bash -c '
		d=$1; shift
		mount --bind "$d/var" /var &&
		mount --bind "$d/etc/passwd" /etc/passwd &&
		mount --bind "$d/etc/group" /etc/group &&
		exec "$@"' os-ns "$OS_DIR" "$@"
}

# os_start LOGNAME - a fresh spool and smtpd in the foreground, paused.
os_start() {
	bury "$OS_SPOOL"
	rm -f "$OS_DIR/var/run/smtpd.sock"
	os_ns "$OS_BIN" -d -P mda -P mta -f "$OS_DIR/smtpd.conf" >"$W/logs/$1.log" 2>&1 &
	OS_PID=$!
	wait_greeting $OS_PORT || die "OpenSMTPD did not start: $(tail -5 "$W/logs/$1.log")"
}

os_stop() {
	local pids
	[ -n "$OS_PID" ] || return 0
	pids=$(tree_pids "$OS_PID")
	# The parent alone takes 10 s and more to go: every process of it.
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null || true
	# shellcheck disable=SC2086
	wait_gone $pids
	wait "$OS_PID" 2>/dev/null || true
	OS_PID=
}

# os_tls_check - OS_TLS=yes when a STARTTLS handshake with OpenSMTPD
# succeeds; else no, and OS_TLS_WHY says what openssl s_client saw.
OS_TLS=no OS_TLS_WHY="not checked"
os_tls_check() {
	local out
	os_start "tls-opensmtpd"
	out=$(openssl s_client -starttls smtp -connect 127.0.0.1:$OS_PORT -brief </dev/null 2>&1 || true)
	os_stop
	if printf '%s\n' "$out" | grep -q '^Protocol version'; then
		OS_TLS=yes OS_TLS_WHY=
	else
		OS_TLS=no
		OS_TLS_WHY="STARTTLS handshake fails: $(printf '%s\n' "$out" | grep -m1 -E 'alert|routines' | sed 's/^[0-9A-F]*:error:/error:/' || true)"
		say "OpenSMTPD STARTTLS not measured: $OS_TLS_WHY"
	fi
}

# os_count - messages in the queue: one directory with a "message" file each.
os_count() { find "$OS_SPOOL/queue" -name message -type f 2>/dev/null | wc -l || true; }

# --- chasquid ---------------------------------------------------------------

CQ_DIR=$W/cq
CQ_BIN=$CQ_DIR/root/usr/bin/chasquid
CQ_DATA=$CQ_DIR/data
CQ_MAILLOG=$W/logs/chasquid-mail.log	# this run's; earlier ones in chasquid-mail-all.log

cq_setup() {
	CQ_WHY=$(peer_unpack chasquid "$CQ_DIR/root") || return 0
	[ -x "$CQ_BIN" ] || { CQ_WHY="no usr/bin/chasquid in the package"; return 0; }
	mkdir -p "$CQ_DIR/etc/certs/mail.example.test" "$CQ_DIR/etc/domains/example.test"
	cp "$CERT" "$CQ_DIR/etc/certs/mail.example.test/fullchain.pem"
	cp "$KEY" "$CQ_DIR/etc/certs/mail.example.test/privkey.pem"
	CQ_MDA=$(command -v dd) || { CQ_WHY="no dd for its delivery agent"; return 0; }
	cat >"$CQ_DIR/etc/chasquid.conf" <<EOF
# written by contrib/bench/run: a private instance whose delivery agent
# reads each message and throws it away (its queue holds 200 at most).
hostname: "mail.example.test"
smtp_address: "127.0.0.1:$CQ_PORT"
submission_address: "127.0.0.1:22032"
submission_over_tls_address: "127.0.0.1:22033"
mail_delivery_agent_bin: "$CQ_MDA"
mail_delivery_agent_args: "of=/dev/null"
mail_delivery_agent_args: "status=none"
data_dir: "$CQ_DATA"
mail_log_path: "$CQ_MAILLOG"
EOF
	: >"$CQ_DIR/etc/domains/example.test/users"
	if ! "$CQ_DIR/root/usr/bin/chasquid-util" --configdir="$CQ_DIR/etc" user-add \
		"$TO_LOCAL" --password=bench-secret >"$W/logs/chasquid-util.log" 2>&1; then
		CQ_WHY="chasquid-util user-add failed: $(tail -1 "$W/logs/chasquid-util.log")"
		return 0
	fi
	CQ_OK=yes CQ_WHY=
}

cq_start() {
	bury "$CQ_DATA"
	mkdir -p "$CQ_DATA"
	if [ -f "$CQ_MAILLOG" ]; then
		cat "$CQ_MAILLOG" >>"${CQ_MAILLOG%.log}-all.log"
		rm -f "$CQ_MAILLOG"
	fi
	"$CQ_BIN" -config_dir "$CQ_DIR/etc" -logfile "$W/logs/$1.log" >>"$W/logs/$1.log" 2>&1 &
	CQ_PID=$!
	wait_greeting $CQ_PORT || die "chasquid did not start: $(tail -5 "$W/logs/$1.log")"
}

cq_stop() {
	[ -n "$CQ_PID" ] || return 0
	kill -TERM "$CQ_PID" 2>/dev/null || true
	wait_gone "$CQ_PID"
	wait "$CQ_PID" 2>/dev/null || true
	CQ_PID=
}

# cq_count - messages chasquid took in this run: the "queued" lines of its
# mail log (it writes one before its 250, and delivers them at once).
cq_count() { grep -c ' queued ip=' "$CQ_MAILLOG" 2>/dev/null || true; }

# --- listen backlog and overflows -------------------------------------------

# listen_backlog PORT - the backlog of the listening socket (ss's Send-Q).
listen_backlog() { ss -Hltn "sport = :$1" 2>/dev/null | awk '{ print $3; exit }'; }

# listen_drops - this namespace's TcpExt ListenDrops: every SYN or
# handshake a listener dropped. (The kernel counts an accept queue
# overflow in ListenOverflows and in ListenDrops both: their sum counted
# each such drop twice, as the script did until 5 December 2026.)
listen_drops() {
	awk '$1 == "TcpExt:" { if (!h) { for (i = 2; i <= NF; i++) k[i] = $i; h = 1; next }
		for (i = 2; i <= NF; i++) if (k[i] == "ListenDrops") s += $i }
		END { print s + 0 }' /proc/net/netstat
}

# --- fsync before 250 --------------------------------------------------------

SYNC_N=20
declare -A SYNC SYNCPER BACKLOG

# sync_check SERVER START STOP PORT - start the server, attach strace to
# every process and thread of it, send SYNC_N 1 KB messages from one
# session, one per connection, and decide from the trace whether each
# 250 to a DATA was written after an fsync-family call had returned.
# SYNC[SERVER] = yes | no | "partly (K of N)" | "unknown: why".
sync_check() {
	local srv=$1 start=$2 stop=$3 port=$4 root pids=() p tr spid t=0 v per
	tr=$W/logs/strace-$srv.out
	"$start" "strace-$srv"
	case $srv in
	sallyport) root=$SP_PID ;; postfix) root=$PF_PID ;;
	opensmtpd) root=$OS_PID ;; chasquid) root=$CQ_PID ;;
	esac
	for p in $(tree_pids "$root"); do pids+=(-p "$p"); done
	strace -f -tt -T -s 48 -o "$tr" \
		-e trace=fsync,fdatasync,sync_file_range,msync,syncfs,pwritev2,write,writev,sendto,sendmsg \
		"${pids[@]}" 2>"$W/logs/strace-$srv.err" &
	spid=$!
	# strace says "Process N attached" for each on stderr
	while [ $t -lt 50 ]; do
		grep -q attached "$W/logs/strace-$srv.err" 2>/dev/null && break
		sleep 0.1; t=$((t + 1))
	done
	sleep 0.3
	BACKLOG[$srv]=$(listen_backlog "$port")
	smtp-source -M "$HELO" -f "$FROM" -t "$TO_LOCAL" -s 1 -m $SYNC_N -l 1024 \
		127.0.0.1:"$port" >>"$W/logs/client.log" 2>&1 || true
	sleep 0.3
	kill -INT "$spid" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
	"$stop"
	read -r v per < <(sync_verdict "$tr" $SYNC_N)
	SYNC[$srv]=${v//_/ }
	SYNCPER[$srv]=$per
	say "fsync before 250, $srv: ${SYNC[$srv]} (${SYNCPER[$srv]} sync calls per message)"
}

# sync_verdict TRACE N - "VERDICT SYNCS-PER-MESSAGE". The replies to DATA
# are the first writes that start with "250" after one that starts with
# "354" (a buffer's start, not a log line quoting a reply). Message i is covered when an
# fsync, fdatasync, sync_file_range, msync, syncfs or a pwritev2 with
# RWF_DSYNC or RWF_SYNC (a write that syncs itself) returned after the
# reply to message i-1 was written and before the reply to message i was:
# with one session and one message at a time, nothing else is in flight.
# Return time: the line's time plus its duration (-T), or the time of its
# "resumed" line.
sync_verdict() {
	awk -v n="$2" '
	function secs(t,   a) { split(t, a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
	{
		ts = secs($2); line = $0
		if (line ~ / pwritev2\(.*RWF_D?SYNC/) {
			# its flags are on the first line only
			if (line ~ /unfinished/) { dsync[$1] = 1; next }
			d = 0; if (match(line, /<[0-9.]+>$/)) d = substr(line, RSTART + 1, RLENGTH - 2)
			sync[++ns] = ts + d
		} else if (line ~ /<\.\.\. pwritev2 resumed>/) {
			if (dsync[$1]) { sync[++ns] = ts; delete dsync[$1] }
		} else if (line ~ / (fsync|fdatasync|sync_file_range|msync|syncfs)\(/ && line !~ /unfinished/) {
			d = 0; if (match(line, /<[0-9.]+>$/)) d = substr(line, RSTART + 1, RLENGTH - 2)
			sync[++ns] = ts + d
		} else if (line ~ /<\.\.\. (fsync|fdatasync|sync_file_range|msync|syncfs) resumed>/) {
			sync[++ns] = ts
		} else if (line ~ /(write|sendto)\([0-9]+, "354[ -]/ || line ~ /(writev|sendmsg)\([0-9]+, .*iov_base="354[ -]/) {
			go = 1
		} else if (go && (line ~ /(write|sendto)\([0-9]+, "250[ -]/ || line ~ /(writev|sendmsg)\([0-9]+, .*iov_base="250[ -]/)) {
			rep[++nr] = ts; go = 0
		}
	}
	END {
		if (nr != n) { printf "unknown:_%d_replies_to_DATA_for_%d_messages %s\n", nr, n, (n ? ns / n : 0); exit }
		cov = 0
		for (i = 1; i <= nr; i++) {
			lo = (i == 1) ? 0 : rep[i - 1]
			for (j = 1; j <= ns; j++) if (sync[j] > lo && sync[j] <= rep[i]) { cov++; break }
		}
		v = (cov == nr) ? "yes" : (cov == 0) ? "no" : sprintf("partly_(%d_of_%d)", cov, nr)
		printf "%s %.1f\n", v, ns / n
	}' "$1"
}

# --- the peers' runs and report ----------------------------------------------

PEER_LIMIT=60		# seconds a peer's run may take (OpenSMTPD stalls)
[ "${quick:-no}" = yes ] && PEER_LIMIT=30
PEER_TIMEDOUT=no

# peer_send ARGS... - send (run's client) with a time limit of PEER_LIMIT
# seconds; PEER_TIMEDOUT=yes when the client was stopped.
peer_send() {
	local p t0 rc=0 q
	PEER_TIMEDOUT=no
	send "$@" &
	p=$!
	t0=$SECONDS
	while kill -0 "$p" 2>/dev/null; do
		if [ $((SECONDS - t0)) -ge "$PEER_LIMIT" ]; then
			PEER_TIMEDOUT=yes
			for q in $(tree_pids "$p"); do
				[ "$q" = "$p" ] || kill "$q" 2>/dev/null || true
			done
			kill "$p" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	wait "$p" || rc=$?
	[ $PEER_TIMEDOUT = no ] || return 1
	return $rc
}

# peer_version PKG - Debian's version of the fetched package.
peer_version() { dpkg-deb -f "$PEER_DEBS/$1.deb" Version 2>/dev/null || echo "?"; }

# peers_header - the peers' rows in the report's first table.
peers_header() {
	if [ $OS_OK = yes ]; then
		r "| OpenSMTPD | $("$OS_BIN" -h 2>&1 | sed -n 's/^version: //p' | head -1) (Debian $(peer_version opensmtpd), dpkg -x; smtpd -d -P mda -P mta)${OS_TLS_WHY:+; STARTTLS not measured: $OS_TLS_WHY} |"
	else
		r "| OpenSMTPD | not measured: $OS_WHY |"
	fi
	if [ $CQ_OK = yes ]; then
		r "| chasquid | $("$CQ_BIN" -version 2>&1 | head -1) (Debian $(peer_version chasquid), dpkg -x; delivers at once to dd of=/dev/null) |"
	else
		r "| chasquid | not measured: $CQ_WHY |"
	fi
}

# peer_cell SERVER KEY - the median rate, or why there is none.
peer_cell() {
	local ok
	case $1 in
	opensmtpd) ok=$OS_OK ;;
	chasquid) ok=$CQ_OK ;;
	esac
	[ "$ok" = yes ] || { echo "not measured"; return; }
	case $1:$2 in
	opensmtpd:*"|yes") [ $OS_TLS = yes ] || { echo "n/a (STARTTLS fails)"; return; } ;;
	esac
	fmt_int "${MED[$2]}"
}

# peers_report - the durability table and the peers' rates beside
# sallyport's and Postfix's.
peers_report() {
	local w size s per tls total srv k kp note
	r "## Durability: fsync before 250"
	r ""
	r "Each server on its own for $SYNC_N messages of 1 KB, one session, one per"
	r "connection, under \`strace -f -tt -T -e trace=fsync,fdatasync,sync_file_range,msync,syncfs,"
	r "pwritev2,write,writev,sendto,sendmsg\` attached to all its processes and threads. A"
	r "message counts as synced when one of those sync calls (a pwritev2 only with RWF_DSYNC"
	r "or RWF_SYNC: a write that returns once it is on stable storage) returned after the"
	r "previous reply to DATA (the first 250 written after a 354) was written and before its own was:"
	r "**yes** for every message, **no** for none. A rate without it is not the same"
	r "product: a crash can lose mail that was acknowledged."
	r ""
	r "| server | fsync before 250 | sync calls per message | listen backlog |"
	r "|---|---|---:|---:|"
	for srv in sallyport postfix opensmtpd chasquid; do
		if [ -n "${SYNC[$srv]:-}" ]; then
			r "| $srv | ${SYNC[$srv]} | ${SYNCPER[$srv]} | ${BACKLOG[$srv]:--} |"
		else
			case $srv in
			opensmtpd) r "| $srv | not measured: $OS_WHY | | |" ;;
			chasquid) r "| $srv | not measured: $CQ_WHY | | |" ;;
			*) r "| $srv | not measured | | |" ;;
			esac
		fi
	done
	r ""
	r "## The peers: OpenSMTPD and chasquid"
	r ""
	if [ $OS_OK != yes ] && [ $CQ_OK != yes ]; then
		r "Not measured: OpenSMTPD: $OS_WHY; chasquid: $CQ_WHY."
		r ""
		return
	fi
	r "Same workloads, clients, disk and certificate, after sallyport, Postfix and"
	r "smtp-sink in each run; each must have taken exactly the messages sent."
	r "OpenSMTPD: delivery paused (\`-P mda -P mta\`), messages counted in queue/;"
	r "fsync before 250: ${SYNC[opensmtpd]:-not measured}. chasquid: its queue holds"
	r "at most 200 messages in flight, so it delivers every message at once to its"
	r "mail delivery agent (\`dd of=/dev/null\`, a fork and exec per message; its CPU"
	r "is counted) and the messages counted are the \"queued\" lines of its mail log;"
	r "fsync before 250: ${SYNC[chasquid]:-not measured}. A run that chasquid cut short"
	r "with 451 (deliveries falling behind its 200) or that took a peer longer than"
	r "$PEER_LIMIT s is not invalid: the rate is what it took divided by the"
	r "time until then, and the notes say so. Listen drops: the namespace's"
	r "ListenDrops during the peer's runs (OpenSMTPD listens with"
	r "a backlog of ${BACKLOG[opensmtpd]:-?}, see above)."
	if [ $OS_OK = yes ] && [ $OS_TLS != yes ]; then
		r "OpenSMTPD with STARTTLS: not measured: $OS_TLS_WHY. (OpenSMTPD 6.8 signs"
		r "the handshake with a key held by another of its processes; its log says"
		r "\"SSL routines::EVP lib\". Upstream's issues 1171 and 1239 report the same"
		r "failure of 6.8.0p2 with OpenSSL 3, the pair Debian 12 ships, and point to"
		r "later releases.)"
	fi
	r ""
	r "| size | sessions | msgs/conn | TLS | msgs/run | sallyport | Postfix | OpenSMTPD | x Postfix | chasquid | x Postfix | listen drops OpenSMTPD | notes |"
	r "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	for w in "${workloads[@]}"; do
		read -r size s per tls total <<<"$w"
		kp="postfix|$size|$s|$per|$tls"
		note=
		for srv in opensmtpd chasquid; do
			k="$srv|$size|$s|$per|$tls"
			[ -n "${PNOTE[$k]:-}" ] && note="${note:+$note; }$srv: ${PNOTE[$k]}"
			[ -n "${NOTE[$k]:-}" ] && note="${note:+$note; }$srv: ${#NOTE[$k]} invalid"
		done
		r "| $(size_name "$size") | $s | $per | $tls | $total | $(fmt_int "${MED[sallyport|$size|$s|$per|$tls]}") | $(fmt_int "${MED[$kp]}") | $(peer_cell opensmtpd "opensmtpd|$size|$s|$per|$tls") | $(fmt_ratio "${MED[opensmtpd|$size|$s|$per|$tls]:-}" "${MED[$kp]}") | $(peer_cell chasquid "chasquid|$size|$s|$per|$tls") | $(fmt_ratio "${MED[chasquid|$size|$s|$per|$tls]:-}" "${MED[$kp]}") | ${DROPS[opensmtpd|$size|$s|$per|$tls]:--} | $note |"
	done
	r ""
}
