"""Pull and push against a real registry (Debian's docker-registry on loopback).

Push a created model, delete it locally, pull it back byte for byte, generate
with it; Ollama's progress lines on the wire; hostile input: a name with ``../``,
an unknown model, a blob tampered with in the registry's storage (digest error,
nothing stored).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ollama_actors.management.actors.transfers import PullJob
from tests.fixtures.daemon import RunningDaemon, start_daemon
from tests.fixtures.daemons import TINY, upload_and_create
from tests.fixtures.registry import RunningRegistry


@pytest.fixture(scope="module")
def own_daemon(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path) -> Iterator[RunningDaemon]:
    running = start_daemon(tmp_path_factory.mktemp("store"), num_thread=1)
    try:
        upload_and_create(running.base_url, TINY, tiny_model_path)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def http(own_daemon: RunningDaemon) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=own_daemon.base_url, timeout=120) as client:
        yield client


def _lines(http: httpx.Client, path: str, body: dict[str, object]) -> list[dict[str, object]]:
    with http.stream("POST", path, json=body) as response:
        assert response.status_code == 200, response.read()
        return [json.loads(line) for line in response.iter_lines() if line]


def _statuses(lines: list[dict[str, object]]) -> list[str]:
    out: list[str] = []
    for line in lines:
        status = str(line.get("status", line.get("error")))
        if not out or out[-1] != status:
            out.append(status)
    return out


def _blob_files(daemon: RunningDaemon) -> set[str]:
    return {p.name for p in (daemon.settings.models / "blobs").iterdir()}


def test_push_delete_pull_generate(http: httpx.Client, own_daemon: RunningDaemon, registry: RunningRegistry) -> None:
    remote = f"{registry.host}/test/tiny:latest"
    assert http.post("/api/copy", json={"source": TINY, "destination": remote}).status_code == 200
    local_manifest = (own_daemon.settings.models / "manifests" / registry.host / "test/tiny/latest").read_bytes()

    pushed = _lines(http, "/api/push", {"model": remote, "insecure": True})
    layers = json.loads(local_manifest)["layers"] + [json.loads(local_manifest)["config"]]
    expected_push = ["retrieving manifest"] + [f"pushing {l['digest'][7:19]}" for l in layers]
    assert _statuses(pushed) == expected_push + ["pushing manifest", "success"]
    last_of = {line["digest"]: line for line in pushed if "digest" in line}
    assert all(last_of[l["digest"]]["completed"] == l["size"] == last_of[l["digest"]]["total"] for l in layers)
    served = httpx.get(f"http://{registry.host}/v2/test/tiny/manifests/latest",
                       headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    assert served.status_code == 200 and served.content == local_manifest

    # Remove every local trace so the pull must download each blob.
    for name in (remote, TINY):
        assert http.request("DELETE", "/api/delete", json={"model": name}).status_code == 200
    assert not {l["digest"].replace(":", "-") for l in layers} & _blob_files(own_daemon)

    pulled = _lines(http, "/api/pull", {"model": remote, "insecure": True})
    expected_pull = ["pulling manifest"] + [f"pulling {l['digest'][7:19]}" for l in layers]
    assert _statuses(pulled) == expected_pull + ["verifying sha256 digest", "writing manifest", "success"]
    assert (own_daemon.settings.models / "manifests" / registry.host / "test/tiny/latest").read_bytes() == local_manifest

    answer = http.post("/api/generate", json={"model": remote, "prompt": "hi", "stream": False,
                                              "options": {"num_predict": 4, "temperature": 0}})
    assert answer.status_code == 200 and answer.json()["done"] is True
    http.post("/api/generate", json={"model": remote, "keep_alive": 0})

    # A second pull finds every blob in place: one complete line per blob, no download.
    again = _lines(http, "/api/pull", {"model": remote, "insecure": True, "stream": True})
    per_blob = [line for line in again if "digest" in line]
    assert len(per_blob) == len(layers) and all(line["completed"] == line["total"] for line in per_blob)
    assert http.post("/api/copy", json={"source": remote, "destination": TINY}).status_code == 200


def test_pull_not_streaming_answers_the_last_status(http: httpx.Client, registry: RunningRegistry) -> None:
    remote = f"{registry.host}/test/tiny:latest"
    if http.post("/api/show", json={"model": remote}).status_code != 200:
        pytest.skip("needs the round trip above")
    response = http.post("/api/pull", json={"model": remote, "insecure": True, "stream": False})
    assert response.status_code == 200 and response.json() == {"status": "success"}


def test_name_with_dot_dot_is_rejected(http: httpx.Client, registry: RunningRegistry) -> None:
    for name in (f"{registry.host}/../tiny:latest", f"{registry.host}/test/..:latest", "../../etc/passwd"):
        for path in ("/api/pull", "/api/push"):
            response = http.post(path, json={"model": name, "insecure": True})
            assert response.status_code == 400, (path, name)
            assert response.json() == {"error": "invalid model name"}


def test_unknown_model(http: httpx.Client, registry: RunningRegistry) -> None:
    lines = _lines(http, "/api/pull", {"model": f"{registry.host}/test/nothing-here:latest", "insecure": True})
    assert lines == [{"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}]


def test_http_name_needs_insecure(http: httpx.Client, registry: RunningRegistry) -> None:
    lines = _lines(http, "/api/pull", {"model": f"http://{registry.host}/test/tiny:latest"})
    assert lines[-1] == {"error": "insecure protocol http"}


def test_push_of_a_missing_model(http: httpx.Client, registry: RunningRegistry) -> None:
    lines = _lines(http, "/api/push", {"model": f"{registry.host}/test/absent:latest", "insecure": True})
    assert lines[:2] == [{"status": "retrieving manifest"}, {"status": "couldn't retrieve manifest"}]
    assert "not found" in str(lines[-1]["error"]) and len(lines) == 3


def test_tampered_blob_is_rejected_and_nothing_stored(
    http: httpx.Client, own_daemon: RunningDaemon, registry: RunningRegistry
) -> None:
    remote = f"{registry.host}/test/tampered:latest"
    created = _lines(http, "/api/create", {"model": remote, "from": TINY, "system": "a system prompt to tamper with"})
    assert created[-1] == {"status": "success"}
    manifest = json.loads((own_daemon.settings.models / "manifests" / registry.host / "test/tampered/latest").read_bytes())
    system = next(l for l in manifest["layers"] if l["mediaType"].endswith(".system"))
    assert _lines(http, "/api/push", {"model": remote, "insecure": True})[-1] == {"status": "success"}
    assert http.request("DELETE", "/api/delete", json={"model": remote}).status_code == 200

    data = registry.blob_data_path(system["digest"])
    original = data.read_bytes()
    data.write_bytes(original.replace(b"tamper", b"TAMPER"))  # same size, other bytes
    before = _blob_files(own_daemon)
    lines = _lines(http, "/api/pull", {"model": remote, "insecure": True})
    assert str(lines[-1]["error"]).startswith(
        f"digest mismatch, file must be downloaded again: want {system['digest']}, got sha256:"
    )
    after = _blob_files(own_daemon)
    # Nothing entered the store: no new blob (verified partials of the other blobs
    # may stay for a later resume), and the tampered bytes are gone for good.
    assert {f for f in after - before if not f.endswith("-partial")} == set()
    assert not {f for f in after if f.startswith(system["digest"].replace(":", "-"))}
    assert not (own_daemon.settings.models / "manifests" / registry.host / "test/tampered").exists()
    assert http.post("/api/show", json={"model": remote}).status_code == 404


def test_cli_push_and_pull(http: httpx.Client, own_daemon: RunningDaemon, registry: RunningRegistry) -> None:
    from tests.e2e.test_cli import cli

    remote = f"{registry.host}/cli/tiny:latest"
    assert http.post("/api/copy", json={"source": TINY, "destination": remote}).status_code == 200
    pushed = cli(own_daemon, "push", "--insecure", remote)
    assert pushed.returncode == 0, pushed.stderr
    assert "pushing manifest" in pushed.stderr and "success" in pushed.stderr
    assert f"You can find your model at:\n\n\t{remote}" in pushed.stdout
    assert http.request("DELETE", "/api/delete", json={"model": remote}).status_code == 200
    pulled = cli(own_daemon, "pull", "--insecure", remote)
    assert pulled.returncode == 0, pulled.stderr
    assert "pulling manifest" in pulled.stderr and "writing manifest" in pulled.stderr and "success" in pulled.stderr
    missing = cli(own_daemon, "pull", "--insecure", f"{registry.host}/cli/absent:latest")
    assert missing.returncode != 0 and "pull model manifest: file does not exist" in missing.stderr
    assert http.request("DELETE", "/api/delete", json={"model": remote}).status_code == 200


class _Hostile:
    """A registry that lies: ``../`` digests, or a blob longer than its manifest says.

    ``sent`` counts the blob bytes written; a handler adds to it after writing, which
    a client may outrun, so read it only after ``wait_idle`` (every answer finished).
    """

    def __init__(self, manifest: bytes, blob: bytes = b"") -> None:
        import http.server
        import threading

        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                with outer.idle:
                    outer.active += 1
                try:
                    if "/blobs/" in self.path:
                        outer.blob_requested.set()
                    self._answer()
                finally:
                    with outer.idle:
                        outer.active -= 1
                        outer.idle.notify_all()

            def _answer(self) -> None:
                body, start = (manifest, 0) if "/manifests/" in self.path else (blob, 0)
                if body is blob and outer.unavailable:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    outer.paths.append(self.path)
                    return
                wanted = self.headers.get("Range", "")
                if body is blob and wanted.startswith("bytes="):
                    start = int(wanted[6:].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                outer.paths.append(self.path)
                outer.ranges.append(wanted)
                if body is blob and outer.cuts > 0:
                    outer.cuts -= 1
                    self.wfile.write(body[start:start + outer.cut_after])
                    self.wfile.flush()
                    outer.sent += min(outer.cut_after, len(body) - start)
                    outer.unavailable = outer.down_after_cut
                    self.close_connection = True
                    return
                if body is blob and outer.slow:
                    for at in range(start, len(body), 100_000):
                        self.wfile.write(body[at:at + 100_000])
                        self.wfile.flush()
                        time.sleep(0.05)
                else:
                    self.wfile.write(body[start:])
                outer.sent += len(body) - start if body is blob else 0

            def log_message(self, *args: object) -> None:
                pass

        self.paths: list[str] = []
        self.ranges: list[str] = []
        self.cut_after = 0  # bytes sent before a cut
        self.cuts = 0  # how many blob answers are cut
        self.unavailable = False  # blob requests answer 503
        self.down_after_cut = False  # after a cut, stay unavailable
        self.slow = False
        self.sent = 0
        self.active = 0  # answers being written
        self.idle = threading.Condition()
        self.blob_requested = threading.Event()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no answer is being written (so ``sent`` is final)."""
        with self.idle:
            return self.idle.wait_for(lambda: self.active == 0, timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _manifest(digest: str, size: int) -> bytes:
    layer = {"mediaType": "application/vnd.ollama.image.model", "digest": digest, "size": size}
    return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "config": layer, "layers": [layer]}).encode()


def test_hostile_registry_dot_dot_digest(http: httpx.Client, own_daemon: RunningDaemon) -> None:
    hostile = _Hostile(_manifest("sha256:../../../../../tmp/pwned", 4))
    try:
        before = _blob_files(own_daemon)
        lines = _lines(http, "/api/pull", {"model": f"{hostile.host}/evil/m:latest", "insecure": True})
        assert lines[0] == {"status": "pulling manifest"} and "error" in lines[-1]
        assert all("/blobs/" not in p for p in hostile.paths)  # nothing was even fetched
        assert _blob_files(own_daemon) == before
    finally:
        hostile.close()


def test_hostile_registry_blob_longer_than_declared(http: httpx.Client, own_daemon: RunningDaemon) -> None:
    import hashlib

    blob = b"x" * 100_000
    hostile = _Hostile(_manifest("sha256:" + hashlib.sha256(blob[:10]).hexdigest(), 10), blob)
    try:
        before = _blob_files(own_daemon)
        lines = _lines(http, "/api/pull", {"model": f"{hostile.host}/evil/big:latest", "insecure": True})
        assert "larger than its manifest says" in str(lines[-1]["error"])
        assert _blob_files(own_daemon) == before
    finally:
        hostile.close()


def test_a_cut_download_is_retried_from_the_byte_where_it_stopped(
    http: httpx.Client, own_daemon: RunningDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib
    import os

    monkeypatch.setattr(PullJob, "RETRY_DELAYS_S", (0.05, 0.05))
    blob = os.urandom(3_000_000)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    hostile = _Hostile(_manifest(digest, len(blob)), blob)
    hostile.cut_after, hostile.cuts = 1_200_000, 1  # the connection breaks once, after 1.2 MB
    name = f"{hostile.host}/flaky/once:latest"
    try:
        lines = _lines(http, "/api/pull", {"model": name, "insecure": True})
        assert lines[-1] == {"status": "success"}
        assert hostile.ranges[1] == "" and hostile.ranges[2].startswith("bytes=")
        assert int(hostile.ranges[2][6:-1]) >= 1_000_000
        assert hostile.wait_idle(10)
        assert hostile.sent == len(blob)  # no byte crossed the wire twice
        stored = own_daemon.settings.models / "blobs" / digest.replace(":", "-")
        assert stored.read_bytes() == blob
    finally:
        hostile.close()
        http.request("DELETE", "/api/delete", json={"model": name})


def test_interrupted_pull_resumes_with_only_the_missing_bytes(
    http: httpx.Client, own_daemon: RunningDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib
    import os

    monkeypatch.setattr(PullJob, "RETRY_DELAYS_S", (0.05, 0.05))
    blob = os.urandom(3_000_000)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    hostile = _Hostile(_manifest(digest, len(blob)), blob)
    name = f"{hostile.host}/flaky/m:latest"
    partial = own_daemon.settings.models / "blobs" / (digest.replace(":", "-") + "-partial")
    try:
        hostile.cut_after, hostile.cuts = 1_200_000, 1  # the registry dies after 1.2 MB…
        hostile.down_after_cut = True  # …and stays down for every retry
        lines = _lines(http, "/api/pull", {"model": name, "insecure": True})
        assert str(lines[-1]["error"]).startswith("max retries exceeded: ")
        kept = partial.stat().st_size  # what arrived is kept for the next attempt
        assert 1_000_000 <= kept <= 1_200_000

        hostile.unavailable = hostile.down_after_cut = False
        assert hostile.wait_idle(10)
        sent_before = hostile.sent
        lines = _lines(http, "/api/pull", {"model": name, "insecure": True})
        assert lines[-1] == {"status": "success"}
        assert hostile.ranges[-1] == f"bytes={kept}-"
        assert hostile.wait_idle(10)  # the server thread counts after writing: let it finish
        assert hostile.sent - sent_before == len(blob) - kept  # only the missing bytes crossed the wire
        first = next(line for line in lines if line.get("digest") == digest)
        assert first["completed"] == kept
        assert not partial.exists()
        stored = own_daemon.settings.models / "blobs" / digest.replace(":", "-")
        assert stored.read_bytes() == blob
    finally:
        hostile.close()
        http.request("DELETE", "/api/delete", json={"model": name})


def test_two_clients_share_one_pull_and_one_leaving_does_not_stop_it(
    own_daemon: RunningDaemon, http: httpx.Client
) -> None:
    import hashlib
    import os

    blob = os.urandom(2_000_000)  # 20 slow chunks: about one second on the wire
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    hostile = _Hostile(_manifest(digest, len(blob)), blob)
    hostile.slow = True
    name = f"{hostile.host}/shared/m:latest"
    results: dict[str, list[dict[str, object]]] = {}

    def leaver() -> None:  # reads until bytes flow, then hangs up
        with httpx.Client(base_url=own_daemon.base_url, timeout=60) as client:
            with client.stream("POST", "/api/pull", json={"model": name, "insecure": True}) as response:
                for line in response.iter_lines():
                    if json.loads(line).get("completed"):
                        break

    try:
        first = threading.Thread(target=leaver)
        first.start()
        assert hostile.blob_requested.wait(10)
        results["second"] = _lines(http, "/api/pull", {"model": name, "insecure": True})
        first.join(10)
        assert results["second"][0] == {"status": "pulling manifest"}
        assert results["second"][-1] == {"status": "success"}
        assert sum("/blobs/" in p for p in hostile.paths) == 1  # one download served both
        assert sum("/manifests/" in p for p in hostile.paths) == 1
        stored = own_daemon.settings.models / "blobs" / digest.replace(":", "-")
        assert stored.read_bytes() == blob
    finally:
        hostile.close()
        http.request("DELETE", "/api/delete", json={"model": name})


def test_a_blob_larger_than_the_free_disk_is_refused_before_download(
    http: httpx.Client, own_daemon: RunningDaemon
) -> None:
    hostile = _Hostile(_manifest("sha256:" + "ab" * 32, 10**17))  # 100 PB
    try:
        lines = _lines(http, "/api/pull", {"model": f"{hostile.host}/huge/m:latest", "insecure": True})
        assert str(lines[-1]["error"]).startswith("insufficient disk space")
        assert all("/blobs/" not in p for p in hostile.paths)
    finally:
        hostile.close()


def test_pull_over_another_version_removes_its_unused_layers(
    http: httpx.Client, own_daemon: RunningDaemon, registry: RunningRegistry
) -> None:
    remote = f"{registry.host}/test/evolve:latest"
    manifest_path = own_daemon.settings.models / "manifests" / registry.host / "test/evolve/latest"
    assert _lines(http, "/api/create", {"model": remote, "from": TINY, "system": "version one"})[-1]["status"] == "success"
    assert _lines(http, "/api/push", {"model": remote, "insecure": True})[-1] == {"status": "success"}
    assert _lines(http, "/api/create", {"model": remote, "from": TINY, "system": "version two"})[-1]["status"] == "success"
    local_only = {l["digest"] for l in json.loads(manifest_path.read_bytes())["layers"]}
    pulled = _lines(http, "/api/pull", {"model": remote, "insecure": True})
    assert _statuses(pulled)[-3:] == ["writing manifest", "removing unused layers", "success"]
    local_only -= {l["digest"] for l in json.loads(manifest_path.read_bytes())["layers"]}
    assert local_only and not {d.replace(":", "-") for d in local_only} & _blob_files(own_daemon)
    assert http.post("/api/show", json={"model": remote}).json()["system"] == "version one"
    http.request("DELETE", "/api/delete", json={"model": remote})


class _ThrottlingProxy:
    """A TCP proxy in front of the real registry: slows answers to ~8 MB/s so the
    registry can be killed half-way through a blob, and counts what crosses."""

    def __init__(self, upstream_port: int) -> None:
        import socket

        self.listener = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.upstream_port = upstream_port
        self.to_client = 0
        self.requests = b""
        self.refused = threading.Event()  # a client came while the registry was down
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()  # registry down: the client sees the connection drop
                self.refused.set()
                continue
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, source: object, target: object, throttle: bool) -> None:
        try:
            while data := source.recv(65536):  # type: ignore[attr-defined]
                if throttle:
                    self.to_client += len(data)
                    time.sleep(0.008)
                else:
                    self.requests += data
                target.sendall(data)  # type: ignore[attr-defined]
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(2)  # type: ignore[attr-defined]
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


def test_registry_killed_mid_blob_and_restarted_resumes_with_only_the_missing_bytes(
    http: httpx.Client, own_daemon: RunningDaemon, registry: RunningRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's fault test on the real docker-registry: kill it at about half of a
    24 MB blob, restart it; the same pull retries, resumes by range and completes."""
    import hashlib
    import os

    from ollama_actors.domain.digests import Digest
    from ollama_actors.domain.names import parse_name
    from ollama_actors.management.adapters.oci_registry import OciRegistry

    monkeypatch.setattr(PullJob, "RETRY_DELAYS_S", (0.5, 1.0, 1.0, 2.0, 2.0))
    blob = os.urandom(24_000_000)
    digest = Digest(hashlib.sha256(blob).hexdigest())
    config = b'{"model_format":"gguf"}'
    config_digest = Digest(hashlib.sha256(config).hexdigest())
    oci = OciRegistry(parse_name(f"{registry.host}/big/blob:latest"), insecure=True)
    for data, d in ((blob, digest), (config, config_digest)):
        path = own_daemon.settings.models.parent / f"upload-{d.short}"
        path.write_bytes(data)
        oci.upload_blob(d, path, len(data), lambda done: None)
        path.unlink()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": str(config_digest),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": str(digest), "size": len(blob)}],
    }).encode()
    oci.put_manifest(manifest)
    oci.close()

    proxy = _ThrottlingProxy(int(registry.host.rsplit(":", 1)[1]))
    name = f"{proxy.host}/big/blob:latest"
    partial = own_daemon.settings.models / "blobs" / f"{digest.filename}-partial"
    result: list[list[dict[str, object]]] = []
    puller = threading.Thread(target=lambda: result.append(_lines(http, "/api/pull", {"model": name, "insecure": True})))
    try:
        puller.start()
        deadline = time.monotonic() + 30  # a bounded poll on the partial's size
        while not (partial.exists() and partial.stat().st_size >= len(blob) // 2) and time.monotonic() < deadline:
            time.sleep(0.005)
        registry.stop()
        # The pull saw the break once it retries: its next connection finds the registry down.
        assert proxy.refused.wait(30)
        kept = partial.stat().st_size
        assert len(blob) // 3 <= kept < len(blob)
        registry.restart()
        puller.join(60)
        assert not puller.is_alive()
        lines = result[0]
        assert lines[-1] == {"status": "success"}, lines[-3:]
        import re

        resumed_at = [int(m) for m in re.findall(rb"(?i)range: bytes=(\d+)-", proxy.requests)]
        assert resumed_at and resumed_at[0] >= kept  # the retry asked only for what was missing
        # What crossed after the kill: the missing bytes and a few headers, not the blob again.
        assert proxy.to_client < len(blob) + 200_000
        assert (own_daemon.settings.models / "blobs" / digest.filename).read_bytes() == blob
        assert not partial.exists()
    finally:
        if registry.process.poll() is not None:
            registry.restart()
        proxy.close()
        http.request("DELETE", "/api/delete", json={"model": name})


# --- parallel byte ranges, cross-repository mounts, transfer.bytes, restarts ---------------


class _Recorder:
    """``transfer.bytes`` events from the daemon's bus (delivered on the bus thread)."""

    def __init__(self, daemon: RunningDaemon) -> None:
        from ollama_actors.adapters.event_bus import Subscribe
        from ollama_actors.kernel.messages import cast

        self.events: list[tuple[str, int]] = []
        self._changed = threading.Condition()
        bus = daemon.names.whereis("event_bus")
        assert bus is not None
        cast(bus, Subscribe(self._on_event))

    def _on_event(self, event: object) -> None:
        if getattr(event, "name", "") == "transfer.bytes":
            with self._changed:
                self.events.append((event.data["direction"], event.data["bytes"]))  # type: ignore[attr-defined]
                self._changed.notify_all()

    def total(self, direction: str) -> int:
        with self._changed:
            return sum(n for d, n in self.events if d == direction)

    def wait_total(self, direction: str, at_least: int, timeout: float = 10) -> int:
        with self._changed:
            self._changed.wait_for(lambda: sum(n for d, n in self.events if d == direction) >= at_least, timeout)
        return self.total(direction)


def _publish_model(host: str, repo: str, blob: bytes, folder: Path) -> tuple[str, bytes]:
    """Upload ``blob`` and a config to the registry at ``host`` as ``repo:latest``; (digest, config)."""
    import hashlib

    from ollama_actors.domain.digests import Digest
    from ollama_actors.domain.names import parse_name
    from ollama_actors.management.adapters.oci_registry import OciRegistry

    config = json.dumps({"model_format": "gguf", "repo": repo}).encode()
    digest, config_digest = (Digest(hashlib.sha256(d).hexdigest()) for d in (blob, config))
    oci = OciRegistry(parse_name(f"{host}/{repo}:latest"), insecure=True)
    try:
        for data, d in ((blob, digest), (config, config_digest)):
            path = folder / f"upload-{d.short}"
            path.write_bytes(data)
            oci.upload_blob(d, path, len(data), lambda done: None)
            path.unlink()
        oci.put_manifest(json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": str(config_digest),
                       "size": len(config)},
            "layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": str(digest), "size": len(blob)}],
        }).encode())
    finally:
        oci.close()
    return str(digest), config


def _small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of 1 MB, 4 at a time, instead of Ollama's 100 MB..1 GB."""
    monkeypatch.setattr(PullJob, "MIN_PART_SIZE", 1_000_000)
    monkeypatch.setattr(PullJob, "MAX_PART_SIZE", 1_000_000)
    monkeypatch.setattr(PullJob, "PARALLEL", 4)


def _requested_ranges(proxy: _ThrottlingProxy) -> list[tuple[int, int]]:
    import re

    return sorted((int(a), int(b)) for a, b in re.findall(rb"(?i)range: bytes=(\d+)-(\d+)", proxy.requests))


def test_a_large_blob_is_pulled_in_parallel_byte_ranges(
    http: httpx.Client, own_daemon: RunningDaemon, registry: RunningRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    _small_parts(monkeypatch)
    blob = os.urandom(6_500_000)
    digest, config = _publish_model(registry.host, "parts/whole", blob, own_daemon.settings.models.parent)
    proxy = _ThrottlingProxy(int(registry.host.rsplit(":", 1)[1]))
    name = f"{proxy.host}/parts/whole:latest"
    recorder = _Recorder(own_daemon)
    try:
        lines = _lines(http, "/api/pull", {"model": name, "insecure": True})
        assert lines[-1] == {"status": "success"}
        assert (own_daemon.settings.models / "blobs" / digest.replace(":", "-")).read_bytes() == blob
        # Seven ranges of at most 1 MB that cover the blob exactly, none fetched twice.
        ranges = _requested_ranges(proxy)
        assert len(ranges) == 7 and ranges[0][0] == 0 and ranges[-1][1] == len(blob) - 1
        assert all(a[1] + 1 == b[0] for a, b in zip(ranges, ranges[1:]))
        assert not list((own_daemon.settings.models / "blobs").glob(digest.replace(":", "-") + "-partial*"))
        # Every byte that crossed the network was published, once.
        assert recorder.wait_total("pull", len(blob) + len(config)) == len(blob) + len(config)
    finally:
        proxy.close()
        http.request("DELETE", "/api/delete", json={"model": name})


def test_an_interrupted_parallel_pull_resumes_with_only_the_missing_ranges(
    http: httpx.Client, own_daemon: RunningDaemon, registry: RunningRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry dies mid-way through a parted pull, which gives up; the parts'
    progress is on disk (as after a daemon restart) and the next pull fetches only
    what is missing."""
    import os

    from ollama_actors.management.adapters.part_file import sidecar_path

    _small_parts(monkeypatch)
    monkeypatch.setattr(PullJob, "RETRY_DELAYS_S", (0.05,))
    blob = os.urandom(16_000_000)  # 16 parts; ~2 s through the throttling proxy at 4 parts at once
    digest, config = _publish_model(registry.host, "parts/cut", blob, own_daemon.settings.models.parent)
    proxy = _ThrottlingProxy(int(registry.host.rsplit(":", 1)[1]))
    name = f"{proxy.host}/parts/cut:latest"
    partial = own_daemon.settings.models / "blobs" / (digest.replace(":", "-") + "-partial")
    result: list[list[dict[str, object]]] = []
    puller = threading.Thread(target=lambda: result.append(_lines(http, "/api/pull", {"model": name, "insecure": True})))
    try:
        puller.start()
        deadline = time.monotonic() + 30  # a bounded poll on what crossed the proxy
        while proxy.to_client < len(blob) // 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        registry.stop()
        puller.join(30)
        assert not puller.is_alive() and str(result[0][-1]["error"]).startswith("max retries exceeded: ")
        record = json.loads(sidecar_path(partial).read_text())
        kept = sum(done for _, _, done in record["parts"])
        assert len(blob) // 4 <= kept < len(blob)

        registry.restart()
        before = proxy.to_client
        lines = _lines(http, "/api/pull", {"model": name, "insecure": True})
        assert lines[-1] == {"status": "success"}
        first = next(line for line in lines if line.get("digest") == digest)
        assert first["completed"] == kept  # resumed from the recorded parts
        crossed = proxy.to_client - before
        # The missing bytes, the config and a few headers: not the blob again.
        assert len(blob) - kept <= crossed < len(blob) - kept + len(config) + 100_000
        assert (own_daemon.settings.models / "blobs" / digest.replace(":", "-")).read_bytes() == blob
        assert not partial.exists() and not sidecar_path(partial).exists()
    finally:
        if registry.process.poll() is not None:
            registry.restart()
        proxy.close()
        http.request("DELETE", "/api/delete", json={"model": name})


def test_push_mounts_a_blob_another_repository_of_the_registry_holds(
    http: httpx.Client, own_daemon: RunningDaemon, registry: RunningRegistry
) -> None:
    proxy = _ThrottlingProxy(int(registry.host.rsplit(":", 1)[1]))
    first, second = f"{proxy.host}/mount/a:latest", f"{proxy.host}/mount/b:latest"
    recorder = _Recorder(own_daemon)
    try:
        assert http.post("/api/copy", json={"source": TINY, "destination": first}).status_code == 200
        manifest = json.loads((own_daemon.settings.models / "manifests" / proxy.host / "mount/a/latest").read_bytes())
        blobs = [*manifest["layers"], manifest["config"]]
        assert _lines(http, "/api/push", {"model": first, "insecure": True})[-1] == {"status": "success"}
        assert b"mount=" not in proxy.requests  # nothing to mount from yet: uploaded
        uploaded = recorder.wait_total("push", sum(b["size"] for b in blobs))
        proxy.requests = b""

        assert http.post("/api/copy", json={"source": TINY, "destination": second}).status_code == 200
        pushed = _lines(http, "/api/push", {"model": second, "insecure": True})
        assert pushed[-1] == {"status": "success"}
        sent = proxy.requests.decode("latin-1")
        for blob in blobs:  # each blob was mounted from mount/a, and no byte of it uploaded
            assert f"POST /v2/mount/b/blobs/uploads/?mount={blob['digest'].replace(':', '%3A')}&from=mount%2Fa" in sent
        assert "PATCH /v2/mount/b/" not in sent and "PUT /v2/mount/b/blobs/" not in sent
        last_of = {line["digest"]: line for line in pushed if "digest" in line}
        assert all(last_of[b["digest"]]["completed"] == b["size"] for b in blobs)
        served = httpx.get(f"http://{registry.host}/v2/mount/b/blobs/{blobs[0]['digest']}")
        assert served.status_code == 200 and len(served.content) == blobs[0]["size"]
        assert recorder.total("push") == uploaded  # the mount moved nothing
    finally:
        proxy.close()
        for name in (first, second):
            http.request("DELETE", "/api/delete", json={"model": name})


def test_a_pull_right_after_a_failed_pull_of_the_same_model_starts_a_fresh_job(
    http: httpx.Client, registry: RunningRegistry
) -> None:
    """Regression (issue 6): the next pull used to meet the dying job's child id and get
    503 "pull could not start"."""
    name = f"{registry.host}/race/absent:latest"
    for _ in range(15):
        lines = _lines(http, "/api/pull", {"model": name, "insecure": True})
        assert lines == [{"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}]


# --- the CLI on a terminal: bars, and Ctrl-C leaving a resumable partial ---------------------


def _terminal_env(daemon: RunningDaemon, home: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OLLAMA_", "XDG_RUNTIME_DIR"))}
    home.mkdir(exist_ok=True)
    return env | {"OLLAMA_SOCKET": str(daemon.socket), "HOME": str(home), "TERM": "xterm-256color"}


def test_cli_pull_on_a_terminal_draws_ollamas_bars(
    http: httpx.Client, own_daemon: RunningDaemon, registry: RunningRegistry, tmp_path: Path
) -> None:
    from tests.fixtures.terminal import Terminal

    remote = f"{registry.host}/cli/bars:latest"
    assert http.post("/api/copy", json={"source": TINY, "destination": remote}).status_code == 200
    assert _lines(http, "/api/push", {"model": remote, "insecure": True})[-1] == {"status": "success"}
    assert http.request("DELETE", "/api/delete", json={"model": remote}).status_code == 200
    term = Terminal(["pull", "--insecure", remote], _terminal_env(own_daemon, tmp_path / "home"), cols=100)
    try:
        term.expect("pulling manifest")
        # One bar per blob, drawn in place: "pulling 1a2b3c4d5e6f: 100% ▕████▏ 553 KB"
        bar = term.expect(r"pulling [0-9a-f]{12}: 100% ▕█+▏ +\d+(\.\d)? [KM]?B")
        assert len(bar.group(0).rstrip()) < 100
        term.expect("verifying sha256 digest")
        term.expect("writing manifest")
        term.expect("success")
        assert term.wait(30) == 0
    finally:
        term.close()
        http.request("DELETE", "/api/delete", json={"model": remote})


def test_ctrl_c_in_the_cli_pull_leaves_a_partial_the_next_pull_resumes(
    http: httpx.Client, own_daemon: RunningDaemon, tmp_path: Path
) -> None:
    """Ctrl-C ends the CLI with 130; the daemon, whose only watcher left, cancels the
    download and keeps what arrived; the next pull fetches only the rest."""
    import hashlib
    import os

    from ollama_actors.management.actors.transfers import pull_key
    from tests.fixtures.terminal import CTRL_C, Terminal

    blob = os.urandom(4_000_000)  # ~2 s at the slow registry's 2 MB/s
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    hostile = _Hostile(_manifest(digest, len(blob)), blob)
    hostile.slow = True
    name = f"{hostile.host}/cli/ctrlc:latest"
    partial = own_daemon.settings.models / "blobs" / (digest.replace(":", "-") + "-partial")
    term = Terminal(["pull", "--insecure", name], _terminal_env(own_daemon, tmp_path / "home"), cols=120)
    try:
        # A running bar: percent, sizes, speed and time left.
        term.expect(r"pulling [0-9a-f]{12}: +\d+% ▕[█ ]*▏ +[\d.]+ [KM]?B/ *[\d.]+ MB +[\d.]+ [KM]?B/s +\d+s")
        job = own_daemon.names.whereis(pull_key(name))
        assert job is not None
        assert "\r\x1b[K" in term.raw  # the bar is redrawn in place, not one line per update
        term.send(CTRL_C)
        assert term.wait(30) == 130
        deadline = time.monotonic() + 30  # the job ends once it notices nobody watches
        while job.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not job.is_alive()
        kept = partial.stat().st_size
        assert 0 < kept < len(blob)

        hostile.slow = False
        lines = _lines(http, "/api/pull", {"model": name, "insecure": True})
        assert lines[-1] == {"status": "success"}
        assert hostile.ranges[-1] == f"bytes={kept}-"
        assert (own_daemon.settings.models / "blobs" / digest.replace(":", "-")).read_bytes() == blob
    finally:
        term.close()
        hostile.close()
        http.request("DELETE", "/api/delete", json={"model": name})


def test_a_registry_that_does_not_honour_byte_ranges_gets_one_stream(
    http: httpx.Client, own_daemon: RunningDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake registry answers every Range with the rest of the blob, not the part
    asked for: the parts are dropped and the blob comes as one stream."""
    import hashlib
    import os

    _small_parts(monkeypatch)
    blob = os.urandom(3_500_000)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    hostile = _Hostile(_manifest(digest, len(blob)), blob)
    name = f"{hostile.host}/ranges/ignored:latest"
    try:
        lines = _lines(http, "/api/pull", {"model": name, "insecure": True})
        assert lines[-1] == {"status": "success"}
        assert any(r.startswith("bytes=") and r.split("-")[1] for r in hostile.ranges)  # parts were tried
        assert hostile.ranges[-1] == ""  # then one plain stream
        assert (own_daemon.settings.models / "blobs" / digest.replace(":", "-")).read_bytes() == blob
    finally:
        hostile.close()
        http.request("DELETE", "/api/delete", json={"model": name})


def test_a_parallel_pull_cut_by_a_daemon_restart_resumes_with_only_the_missing_ranges(
    registry: RunningRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon stops in the middle of a parted pull (held in its retry back-off by a
    dead registry, so its graceful stop cannot let it finish); a new daemon on the
    same store reads the parts' record and fetches only the ranges that are missing."""
    import os

    from ollama_actors.management.adapters.part_file import sidecar_path

    _small_parts(monkeypatch)
    monkeypatch.setattr(PullJob, "RETRY_DELAYS_S", (60.0,))
    blob = os.urandom(16_000_000)
    digest, config = _publish_model(registry.host, "parts/restart", blob, tmp_path)
    proxy = _ThrottlingProxy(int(registry.host.rsplit(":", 1)[1]))
    name = f"{proxy.host}/parts/restart:latest"
    store = tmp_path / "store"
    partial = store / "blobs" / (digest.replace(":", "-") + "-partial")
    first = start_daemon(store, num_thread=1, grace_period_s=0.2)
    second: RunningDaemon | None = None

    def pull_until_cut() -> None:
        with httpx.Client(base_url=first.base_url, timeout=60) as client:
            try:
                _lines(client, "/api/pull", {"model": name, "insecure": True})
            except httpx.HTTPError:
                pass  # the daemon went away under it

    puller = threading.Thread(target=pull_until_cut)
    try:
        puller.start()
        deadline = time.monotonic() + 30  # a bounded poll on what crossed the proxy
        while proxy.to_client < len(blob) // 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        registry.stop()  # the parts break off; the pull cannot finish during the graceful stop
        first.stop()
        puller.join(30)
        for worker in [t for t in threading.enumerate() if t.name == "PullJob-worker" or t.name.startswith("blob-part")]:
            worker.join(30)  # the cancelled worker saves the parts' record on its way out
        kept = sum(done for _, _, done in json.loads(sidecar_path(partial).read_text())["parts"])
        assert len(blob) // 4 <= kept < len(blob)

        registry.restart()
        second = start_daemon(store, num_thread=1)
        before = proxy.to_client
        with httpx.Client(base_url=second.base_url, timeout=60) as client:
            lines = _lines(client, "/api/pull", {"model": name, "insecure": True})
        assert lines[-1] == {"status": "success"}
        assert next(line for line in lines if line.get("digest") == digest)["completed"] == kept
        crossed = proxy.to_client - before
        assert len(blob) - kept <= crossed < len(blob) - kept + len(config) + 100_000
        assert (store / "blobs" / digest.replace(":", "-")).read_bytes() == blob
    finally:
        if registry.process.poll() is not None:
            registry.restart()
        if second is not None:
            second.stop()
        proxy.close()
