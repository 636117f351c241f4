"""What the PACS tests share: copies of a synthetic screening study under new UIDs (so that every test has a
study of its own on one Orthanc), with the changes a bad-input test needs, and a small HTTP server in front of
Orthanc that demands a bearer token or fails with HTTP 500 after a number of requests."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pydicom
import requests
from pydicom.uid import generate_uid

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


def study_copy(files: list[Path], folder: Path,
               change: Callable[[pydicom.Dataset], pydicom.Dataset | None] | None = None) -> tuple[str, list[Path]]:
    """The study of ``files`` written to ``folder`` under a new StudyInstanceUID, new series and SOP UIDs;
    ``change(dataset)`` may edit each copy, or return None to leave it out. Returns (study UID, files)."""
    folder.mkdir(parents=True, exist_ok=True)
    study_uid, written = generate_uid(), []
    for path in files:
        dataset = pydicom.dcmread(path)
        dataset.StudyInstanceUID = study_uid
        dataset.SeriesInstanceUID = generate_uid()
        dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        if change is not None:
            dataset = change(dataset)
            if dataset is None:
                continue
        target = folder / f"{dataset.SOPInstanceUID}.dcm"
        dataset.save_as(target, enforce_file_format=True)
        written.append(target)
    return study_uid, written


def orthanc_counts(base_url: str, auth=None) -> dict:
    """Orthanc's own count of what it holds (its REST API, not DICOMweb): what a test compares before and after."""
    statistics = requests.get(f"{base_url}/statistics", auth=auth, timeout=30).json()
    return {key: statistics[key] for key in ("CountStudies", "CountSeries", "CountInstances")}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def __init__(self, *args, proxy: FaultyProxy, **kwargs):
        self.proxy = proxy
        super().__init__(*args, **kwargs)

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):  # noqa: N802
        self._handle()

    def do_POST(self):  # noqa: N802
        self._handle()

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        with self.proxy.lock:
            self.proxy.requests.append((self.command, self.path))
            number = len(self.proxy.requests)
        if self.proxy.token is not None and self.headers.get("Authorization") != f"Bearer {self.proxy.token}":
            return self._reply(401, b'{"error": "bearer token required"}',
                               {"Content-Type": "application/json", "WWW-Authenticate": "Bearer"})
        if self.proxy.fail_after is not None and number > self.proxy.fail_after:
            return self._reply(500, b"Internal Server Error: the disk is full", {"Content-Type": "text/plain"})
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS | {"authorization"}}
        upstream = urlsplit(self.proxy.upstream)
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        connection.request(self.command, upstream.path.rstrip("/") + self.path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        self._reply(response.status, payload,
                    {k: v for k, v in response.getheaders() if k.lower() not in HOP_HEADERS})
        connection.close()

    def _reply(self, status: int, payload: bytes, headers: dict):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class FaultyProxy:
    """Forwards to ``upstream`` (Orthanc's base URL); answers 401 without ``Bearer <token>`` when ``token`` is
    set, and HTTP 500 to every request after the first ``fail_after``. ``requests`` lists (method, path)."""

    def __init__(self, upstream: str, *, token: str | None = None, fail_after: int | None = None):
        self.upstream, self.token, self.fail_after = upstream, token, fail_after
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, proxy=self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
