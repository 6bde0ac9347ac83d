# credsentry-agent %postun ($1: 0 = erased, 1 = upgraded). A running agent restarts on upgrade.
# State in /var/lib/credsentry stays on erase, as is the RHEL convention (no purge in rpm).
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || :
  if [ "$1" -ge 1 ]; then systemctl try-restart credsentry-agent.service >/dev/null 2>&1 || :; fi
fi
:
