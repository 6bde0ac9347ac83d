# credsentry-collector %pre: the system user must exist before files are owned by it.
getent group credsentry >/dev/null || groupadd -r credsentry
getent passwd credsentry >/dev/null || useradd -r -g credsentry -d /var/lib/credsentry/collector \
  -s /sbin/nologin -c "credsentry collector" credsentry
:
