#!/bin/sh
# tollgate-gate.sh: the Tollgate conformance gate for any CI system (POSIX sh).
#
#   ci/tollgate-gate.sh [-f DESCRIPTOR] [-o REPORT_DIR] [-- EXTRA 'tollgate run' ARGS]
#
# Runs `tollgate run -f DESCRIPTOR --report-dir REPORT_DIR` and exits with its
# status: 0 conformant, 1 non-conformant, 2 harness or configuration error.
# Any other status (tollgate missing, killed by a signal) becomes 2: the proxy
# was not judged.
#
# Environment:
#   TOLLGATE             the tollgate binary (default: tollgate on PATH)
#   TOLLGATE_VERSION     when tollgate is not found: `go install` this version
#                        (a tag such as v0.1.0, or a commit) into TOLLGATE_GOBIN
#   TOLLGATE_GOBIN       where to install it (default: $HOME/.cache/tollgate/bin)
#   TOLLGATE_DESCRIPTOR  default for -f (tollgate.yaml)
#   TOLLGATE_REPORT_DIR  default for -o (tollgate-report)
set -u

descriptor=${TOLLGATE_DESCRIPTOR:-tollgate.yaml}
report_dir=${TOLLGATE_REPORT_DIR:-tollgate-report}
module=github.com/tollgate-dev/tollgate/cmd/tollgate

usage() {
	sed -n '2,19s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	-f) [ $# -ge 2 ] || usage; descriptor=$2; shift 2 ;;
	-o) [ $# -ge 2 ] || usage; report_dir=$2; shift 2 ;;
	-h | --help) usage ;;
	--) shift; break ;;
	*) break ;;
	esac
done

say() { printf 'tollgate-gate: %s\n' "$*" >&2; }

tg=${TOLLGATE:-tollgate}
if ! command -v "$tg" >/dev/null 2>&1; then
	if [ -n "${TOLLGATE_VERSION:-}" ]; then
		gobin=${TOLLGATE_GOBIN:-${HOME:-/tmp}/.cache/tollgate/bin}
		say "installing $module@$TOLLGATE_VERSION into $gobin"
		if ! GOBIN=$gobin go install "$module@$TOLLGATE_VERSION"; then
			say "cannot install tollgate $TOLLGATE_VERSION (is Go 1.26 on PATH?)"
			exit 2
		fi
		tg=$gobin/tollgate
	else
		say "'$tg' not found; put tollgate on PATH, set TOLLGATE, or set TOLLGATE_VERSION to install it"
		exit 2
	fi
fi

if [ ! -f "$descriptor" ]; then
	say "no descriptor '$descriptor' (write one with: tollgate init)"
	exit 2
fi

mkdir -p "$report_dir" || exit 2
"$tg" run -f "$descriptor" --report-dir "$report_dir" "$@"
code=$?

case $code in
0) say "conformant (reports in $report_dir)" ;;
1) say "NOT conformant: see $report_dir/summary.md or $report_dir/report.html" ;;
2) say "harness or configuration error: the proxy was not judged" ;;
*)
	say "tollgate ended with status $code (killed, or not runnable): the proxy was not judged"
	code=2
	;;
esac
exit "$code"
