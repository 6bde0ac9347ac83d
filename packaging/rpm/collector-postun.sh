# credsentry-collector %postun ($1: 0 = erased, 1 = upgraded).
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || :
  if [ "$1" -ge 1 ]; then systemctl try-restart credsentry-collector.service >/dev/null 2>&1 || :; fi
fi
:
