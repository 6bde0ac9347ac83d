# credsentry-collector %post ($1: 1 = install, 2 = upgrade). Idempotent.
install -d -m 0755 /var/lib/credsentry
install -d -m 0750 -o credsentry -g credsentry /var/lib/credsentry/collector
install -d -m 0750 -o root -g credsentry /etc/credsentry/tls
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || :
  if [ "$1" -eq 1 ]; then systemctl --no-reload preset credsentry-collector.service >/dev/null 2>&1 || :; fi
fi
:
