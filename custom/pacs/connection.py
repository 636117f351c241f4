"""One DICOMweb server (QIDO-RS, WADO-RS, STOW-RS) through ``dicomweb-client``, with credentials from the
environment and every failure said the same way.

Credentials never appear on the command line, in the URL or in a log line:

- ``MAMMO_SSL_DICOMWEB_USERNAME`` and ``MAMMO_SSL_DICOMWEB_PASSWORD``: HTTP basic authentication;
- ``MAMMO_SSL_DICOMWEB_TOKEN``: a bearer token (``Authorization: Bearer ...``).

They live in a ``requests`` authentication object, which ``dicomweb-client`` does not log (it logs each
request's URL and its own per-request headers only), and a URL holding ``user:password@`` is refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlsplit

import requests
import urllib3
from dicomweb_client import DICOMwebClient
from pydicom.dataset import Dataset

from custom.pacs.errors import PacsError

USERNAME_VARIABLE = "MAMMO_SSL_DICOMWEB_USERNAME"
PASSWORD_VARIABLE = "MAMMO_SSL_DICOMWEB_PASSWORD"
TOKEN_VARIABLE = "MAMMO_SSL_DICOMWEB_TOKEN"
# WADO-RS: the instance as the PACS stores it (an RLE image stays RLE), decoded once, here, not also by the server
AS_STORED_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
TIMEOUT_S = 120.0


class BearerToken(requests.auth.AuthBase):
    """``Authorization: Bearer <token>`` on every request; its text form hides the token."""

    def __init__(self, token: str):
        self._token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerToken(<hidden>)"


class BasicAuth(requests.auth.HTTPBasicAuth):
    """HTTP basic authentication whose text form hides the password."""

    def __repr__(self) -> str:
        return f"BasicAuth({self.username!r}, <hidden>)"


def credentials_from_environment(environment: Mapping[str, str] | None = None) -> requests.auth.AuthBase | None:
    """The credentials the environment holds (see the module docstring), or None; half-given ones are an error."""
    environment = os.environ if environment is None else environment
    username, password = environment.get(USERNAME_VARIABLE), environment.get(PASSWORD_VARIABLE)
    token = environment.get(TOKEN_VARIABLE)
    if token and (username or password):
        raise PacsError(f"both {TOKEN_VARIABLE} and {USERNAME_VARIABLE}/{PASSWORD_VARIABLE} are set: set one of them")
    if token:
        return BearerToken(token)
    if bool(username) != bool(password):
        missing = PASSWORD_VARIABLE if username else USERNAME_VARIABLE
        raise PacsError(f"{missing} is not set: basic authentication needs {USERNAME_VARIABLE} and {PASSWORD_VARIABLE}")
    return BasicAuth(username, password) if username else None


def checked_url(url: str) -> str:
    """The DICOMweb root without a trailing slash; refuses what is no http(s) URL, and passwords in URLs."""
    parts = urlsplit(str(url).strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PacsError(f"{url!r} is not a DICOMweb URL: expected http(s)://host[:port]/path, "
                        "e.g. http://127.0.0.1:8042/dicom-web")
    if parts.username or parts.password:
        raise PacsError(f"the DICOMweb URL holds credentials: remove them and set {USERNAME_VARIABLE} and "
                        f"{PASSWORD_VARIABLE} (or {TOKEN_VARIABLE}) instead, which are never logged")
    if parts.query or parts.fragment:
        raise PacsError(f"{url!r}: a DICOMweb root has no query or fragment")
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


class Pacs:
    """A DICOMweb server. Every call goes through :meth:`_call`, which turns transport and HTTP failures into a
    :class:`PacsError` that names the server, what was being done and what to check."""

    def __init__(self, url: str, auth: requests.auth.AuthBase | None = None, timeout: float = TIMEOUT_S):
        self.url = checked_url(url)
        self.auth, self.timeout = auth, timeout
        self.session = requests.Session()
        self.session.auth = auth
        self.client = DICOMwebClient(self.url, session=self.session, timeout=timeout)
        # a few quick retries on 429/408/503/504 and dropped connections, then a clear error: not minutes of waiting
        self.client.set_http_retry_params(retry=True, max_attempts=3, wait_exponential_multiplier=250)

    @classmethod
    def from_environment(cls, url: str) -> Pacs:
        return cls(url, credentials_from_environment())

    def series_of(self, study_uid: str) -> list[Dataset]:
        """QIDO-RS: the study's series (empty when the study is not on the server)."""
        found = self._call(f"searching the series of study {study_uid}", self.client.search_for_series,
                           study_instance_uid=study_uid, missing=[])
        return [Dataset.from_json(item) for item in found]

    def studies(self, filters: dict, fields: Sequence[str] = (), page: int = 200) -> list[Dataset]:
        """QIDO-RS: studies matching ``filters``, page after page until a page brings no new study.

        Not ``dicomweb-client``'s ``get_remaining``: Orthanc's DICOMweb plugin 1.7 ignores ``offset`` when
        filtering on ``ModalitiesInStudy`` and sends the first page again, for ever (measured).
        """
        found: dict[str, Dataset] = {}
        while True:
            batch = self._call("searching studies", self.client.search_for_studies, search_filters=filters,
                               fields=list(fields) or None, limit=page, offset=len(found))
            new = {str(item.StudyInstanceUID): item for item in map(Dataset.from_json, batch)}
            new = {uid: item for uid, item in new.items() if uid not in found}
            found.update(new)
            if len(batch) < page or not new:
                return list(found.values())

    def series_metadata(self, study_uid: str, series_uid: str) -> list[Dataset]:
        """WADO-RS metadata: every instance's header of one series, without pixel data."""
        found = self._call(f"reading the headers of series {series_uid}", self.client.retrieve_series_metadata,
                           study_uid, series_uid)
        # bulk data (pixels, overlays) come as URIs to fetch: a header needs none of them
        return [Dataset.from_json({tag: value for tag, value in item.items() if "BulkDataURI" not in value})
                for item in found]

    def instance_bytes(self, study_uid: str, series_uid: str, sop_uid: str) -> bytes:
        """WADO-RS: one instance's DICOM file, as stored (an RLE image stays RLE: decoded once, here).

        Not through ``dicomweb-client``: its multipart decoding reads in 10 kB pieces and took 0.4 s for a
        21 MB mammogram here, against 0.12 s for one plain read of the same response (``docs/pacs.md``).
        """
        url = f"{self.url}/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}"

        def get() -> bytes:
            # identity: a DICOM file compresses little, and a server compressing 20 MB on the fly is slow
            response = self.session.get(url, headers={"Accept": AS_STORED_ACCEPT, "Accept-Encoding": "identity"},
                                        stream=True, timeout=self.timeout)
            with response:
                if not response.ok:
                    _ = response.content  # read the server's explanation before the connection closes
                    response.raise_for_status()
                return single_part(response.raw.read(decode_content=True), response.headers.get("Content-Type", ""))

        return self._call(f"retrieving instance {sop_uid}", get)

    def store(self, datasets: Sequence[Dataset], study_uid: str) -> Dataset:
        """STOW-RS: all ``datasets`` in one request; a response listing failed instances is an error."""
        response = self._call(f"storing {len(datasets)} result instance(s) in study {study_uid}",
                              self.client.store_instances, datasets, study_instance_uid=study_uid)
        failed = response.get("FailedSOPSequence") if response is not None else None
        if failed:
            reasons = ", ".join(f"{item.get('ReferencedSOPInstanceUID', '?')} (reason {item.get('FailureReason', '?')})"
                                for item in failed)
            raise PacsError(f"the PACS at {self.url} refused {len(failed)} of {len(datasets)} result instance(s): "
                            f"{reasons}")
        return response

    def _call(self, doing: str, function: Callable, *args, missing=None, **kwargs):
        """``function(*args, **kwargs)``; ``missing``: what an HTTP 404 means (some servers answer a search in
        an unknown study with 404, others with an empty list)."""
        try:
            return function(*args, **kwargs)
        except requests.HTTPError as error:
            if missing is not None and error.response is not None and error.response.status_code == 404:
                return missing
            raise self._http_error(doing, error.response) from None
        except requests.Timeout:
            raise PacsError(f"the PACS at {self.url} did not answer within {self.timeout:g} s while {doing}") from None
        except requests.ConnectionError as error:
            raise PacsError(f"cannot reach the PACS at {self.url} while {doing}: {_reason(error)}; is the server "
                            "running and the URL right?") from None
        except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
            # e.g. a response cut off halfway (urllib3's ProtocolError while reading a body)
            raise PacsError(f"the exchange with the PACS at {self.url} failed while {doing}: {error}") from None

    def _http_error(self, doing: str, response: requests.Response | None) -> PacsError:
        status = response.status_code if response is not None else 0
        if status in (401, 403):
            given = ("the credentials given were refused" if self.auth is not None else
                     f"no credentials were given: set {USERNAME_VARIABLE} and {PASSWORD_VARIABLE}, or {TOKEN_VARIABLE}")
            return PacsError(f"the PACS at {self.url} refused access (HTTP {status}) while {doing}: {given}")
        if status == 404:
            return PacsError(f"the PACS at {self.url} answered 'not found' (HTTP 404) while {doing}: is the URL "
                             "its DICOMweb root (for Orthanc .../dicom-web)?")
        text = (response.text or "").strip().replace("\n", " ")[:300] if response is not None else ""
        return PacsError(f"the PACS at {self.url} failed (HTTP {status}) while {doing}" + (f": {text}" if text else ""))


def _reason(error: requests.ConnectionError) -> str:
    """The innermost cause of a connection failure (``Connection refused``, ``Name or service not known``)."""
    cause: BaseException = error
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__
    text = str(cause) or type(cause).__name__
    return text.split("] ", 1)[-1] if text.startswith("[Errno") else text


def single_part(body: bytes, content_type: str) -> bytes:
    """The one body part of a ``multipart/related`` response (or the body itself when it is not multipart)."""
    media, _, parameters = content_type.partition(";")
    if media.strip().lower() != "multipart/related":
        return body
    pairs = (part.strip().partition("=") for part in parameters.split(";"))
    boundary = next((value.strip().strip('"') for name, _, value in pairs if name.lower() == "boundary"), None)
    if not boundary:
        raise PacsError(f"a multipart response without a boundary ({content_type!r})")
    delimiter = b"--" + boundary.encode()
    start = body.find(delimiter)
    header_end = body.find(b"\r\n\r\n", start)
    end = body.find(b"\r\n" + delimiter, header_end)
    if start < 0 or header_end < 0 or end < 0:
        raise PacsError("a truncated multipart response (no closing boundary): the PACS stopped sending halfway")
    return body[header_end + 4:end]
