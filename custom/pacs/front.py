"""OHIF and the PACS's DICOMweb under one origin, as a hospital's reverse proxy serves them.

A browser lets OHIF call DICOMweb only on its own origin (or where the server answers CORS). Hospitals put a
reverse proxy in front of both; this is a small one for the demo and the browser test:

- ``/ohif/...``: the OHIF static build; a path that is no file gets ``index.html`` (OHIF routes in the page,
  ``/ohif/viewer?StudyInstanceUIDs=...`` is no file), and ``app-config.js`` is ours, pointing OHIF at
  ``/dicom-web`` on the same origin;
- ``/dicom-web/...``: forwarded to the PACS unchanged (method, query, body, ``Accept`` and ``Authorization``).

Orthanc's own ServeFolders plugin serves static files but has no such fallback (measured: ``/ohif/viewer`` is a
404), hence this front.
"""

from __future__ import annotations

import http.client
import mimetypes
import threading
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

OHIF_PREFIX = "/ohif/"
DICOMWEB_PREFIX = "/dicom-web"
# request and response headers that belong to one hop, not to the message
HOP_HEADERS = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
               "transfer-encoding", "upgrade", "host", "content-length"}
MIME_TYPES = {".wasm": "application/wasm", ".js": "text/javascript", ".mjs": "text/javascript",
              ".json": "application/json"}
APP_CONFIG = """window.config = {
  routerBasename: '/ohif/',
  showStudyList: true,
  extensions: [],
  modes: [],
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: false,
  showLoadingIndicator: true,
  investigationalUseDialog: { option: 'never' },
  defaultDataSourceName: 'dicomweb',
  useSharedArrayBuffer: 'FALSE',
  dataSources: [
    {
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'dicomweb',
      configuration: {
        friendlyName: 'PACS (mammo-ssl)',
        name: 'pacs',
        wadoUriRoot: window.location.origin + '/dicom-web',
        qidoRoot: window.location.origin + '/dicom-web',
        wadoRoot: window.location.origin + '/dicom-web',
        qidoSupportsIncludeField: false,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        supportsFuzzyMatching: false,
        supportsWildcard: true,
        omitQuotationForMultipartRequest: true,
        bulkDataURI: { enabled: true },
      },
    },
  ],
};
"""


class _FrontHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def __init__(self, *args, ohif: Path, upstream: str, **kwargs):
        self.ohif, self.upstream = ohif, urlsplit(upstream)
        super().__init__(*args, **kwargs)

    def log_message(self, format, *args):  # noqa: A002 - the base class's name; requests are not logged
        pass

    def do_GET(self):  # noqa: N802 - http.server's names
        self._route()

    def do_HEAD(self):  # noqa: N802
        self._route()

    def do_POST(self):  # noqa: N802
        self._route()

    def _route(self) -> None:
        path = urlsplit(self.path).path
        if path == DICOMWEB_PREFIX or path.startswith(DICOMWEB_PREFIX + "/"):
            self._forward()
        elif path in ("/", "/ohif"):
            self._send(302, b"", {"Location": OHIF_PREFIX})
        elif path.startswith(OHIF_PREFIX) and self.command in ("GET", "HEAD"):
            self._static(path[len(OHIF_PREFIX):])
        else:
            self._send(404, b"not found\n", {"Content-Type": "text/plain"})

    def _static(self, relative: str) -> None:
        if relative == "app-config.js":
            self._send(200, APP_CONFIG.encode(), {"Content-Type": "text/javascript", "Cache-Control": "no-store"})
            return
        file = (self.ohif / relative).resolve()
        if not file.is_relative_to(self.ohif) or not file.is_file():
            file = self.ohif / "index.html"  # a route of the single-page app, not a file
        suffix = file.suffix.lower()
        content_type = MIME_TYPES.get(suffix) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        self._send(200, file.read_bytes(), {"Content-Type": content_type})

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_HEADERS}
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=300)
        try:
            connection.request(self.command, self.upstream.path.rstrip("/") + self.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            kept = {name: value for name, value in response.getheaders() if name.lower() not in HOP_HEADERS}
            self._send(response.status, payload, kept)
        except OSError as error:
            self._send(502, f"the PACS at {self.upstream.netloc} did not answer: {error}\n".encode(),
                       {"Content-Type": "text/plain"})
        finally:
            connection.close()

    def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class ViewerFront:
    """Serves ``ohif`` (a folder holding OHIF's ``index.html``) at ``/ohif/`` and forwards ``/dicom-web`` to
    ``upstream`` (the PACS's base URL, e.g. ``http://127.0.0.1:8042``), on 127.0.0.1:``port``, in a thread.
    A context manager; ``viewer_url(study)`` is the address a radiologist opens."""

    def __init__(self, ohif: str | Path, upstream: str, port: int = 0):
        self.ohif = Path(ohif).resolve()
        if not (self.ohif / "index.html").is_file():
            raise FileNotFoundError(f"{self.ohif}: no OHIF build here (no index.html)")
        handler = partial(_FrontHandler, ohif=self.ohif, upstream=upstream)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="viewer-front", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def viewer_url(self, study_uid: str) -> str:
        return f"{self.url}{OHIF_PREFIX}viewer?StudyInstanceUIDs={study_uid}"

    def start(self) -> ViewerFront:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ViewerFront:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
