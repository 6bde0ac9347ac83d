# credsentry-agent %post ($1: 1 = install, 2 = upgrade). Idempotent.
install -d -m 0755 /var/lib/credsentry /var/log/credsentry
# Self-check: a clear message when the kernel lacks BTF or BPF; never fails the transaction.
if /usr/bin/credsentry-agent --check >/var/lib/credsentry/install-check.txt 2>&1; then
  echo "credsentry-agent: self-check passed (details: /var/lib/credsentry/install-check.txt)"
else
  echo "credsentry-agent: WARNING: self-check failed; the agent will not start on this host:" >&2
  grep -E 'NO|ERROR|CANNOT' /var/lib/credsentry/install-check.txt >&2 || :
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || :
  # First install: follow the distribution's preset policy (enabled or not), never start now.
  if [ "$1" -eq 1 ]; then systemctl --no-reload preset credsentry-agent.service >/dev/null 2>&1 || :; fi
fi
:
