"""The addon's hooks driven directly with mitmproxy's test flows (no sockets)."""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

import pytest

pytest.importorskip("mitmproxy")

from mitmproxy import http
from mitmproxy.test import tflow, tutils
from vshell.proxy import policy
from vshell.proxy.addon import Run, RunRegistry, Tunnel, VshEgress, inject

from vshell.credentials import Credential, HostTemplate
from vshell.secret import Secret

SECRET = "sekrit-value-1234567890"
TOKEN = "t" * 43


def _cred(ref: str, host: str, prefix: str = "Key ", **kw: Any) -> Credential:
    s, f = ref.split("/")
    return Credential(id=ref, service=s, field=f, templates=(HostTemplate(host, prefix=prefix, **kw),))


def _addon(*creds: Credential) -> tuple[VshEgress, Run, list[dict[str, Any]]]:
    records: list[dict[str, Any]] = []
    runs = RunRegistry()
    run = Run.make("r1", creds, {c.id: Secret(SECRET + c.id) for c in creds}, policy.DomainPolicy())
    runs.add(TOKEN, run)

    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    return VshEgress(runs, {}, records.append, resolve), run, records


def _tunnel_flow(addon: VshEgress, run: Run, host: str = "api.fal.run", host_header: str | None = None,
                 sni: str | None = None, path: str = "/x") -> http.HTTPFlow:
    f = tflow.tflow(req=tutils.treq(host=host, port=443, path=path.encode(), headers=http.Headers()))
    f.request.headers["Host"] = host_header or host
    f.client_conn.tls = True
    f.client_conn.sni = sni or host
    addon._state(f.client_conn).tunnel = Tunnel(run, host, 443, intercepted=True)
    return f


def test_connect_without_token_is_407() -> None:
    addon, _, records = _addon(_cred("fal/key", "*.fal.run"))
    f = tflow.tflow(req=tutils.treq(method=b"CONNECT", host="api.fal.run", port=443, path=b""))
    asyncio.run(addon.http_connect(f))
    assert f.response is not None and f.response.status_code == 407
    assert records[-1]["decision"] == "unauthenticated"


def test_connect_with_token_admits_and_strips_auth() -> None:
    addon, _, _records = _addon(_cred("fal/key", "*.fal.run"))
    f = tflow.tflow(req=tutils.treq(method=b"CONNECT", host="api.fal.run", port=443, path=b""))
    f.request.headers["Proxy-Authorization"] = policy.proxy_authorization(TOKEN)
    asyncio.run(addon.http_connect(f))
    assert f.response is None
    assert "Proxy-Authorization" not in f.request.headers
    assert addon.clients[f.client_conn.id].tunnel is not None


def test_connect_to_private_address_is_refused() -> None:
    addon, _, records = _addon()
    f = tflow.tflow(req=tutils.treq(method=b"CONNECT", host="169.254.169.254", port=443, path=b""))
    f.request.headers["Proxy-Authorization"] = policy.proxy_authorization(TOKEN)
    asyncio.run(addon.http_connect(f))
    assert f.response is not None and f.response.status_code == 403
    assert records[-1]["decision"] == "blocked_address"


def test_injects_and_replaces_client_headers() -> None:
    addon, run, records = _addon(_cred("fal/key", "*.fal.run"))
    f = _tunnel_flow(addon, run)
    f.request.headers["Authorization"] = "Bearer client"
    f.request.headers["Proxy-Authorization"] = "Basic xyz"
    asyncio.run(addon.requestheaders(f))
    assert f.response is None
    assert f.request.headers.get_all("Authorization") == [f"Key {SECRET}fal/key"]
    assert "Proxy-Authorization" not in f.request.headers
    assert records[-1]["decision"] == "injected" and SECRET not in str(records)


@pytest.mark.parametrize(("host_header", "sni"), [("attacker.test", None), ("api.fal.run", "attacker.test"),
                                                  ("api.fal.run:444", None)])
def test_mismatch_is_refused(host_header: str, sni: str | None) -> None:
    addon, run, records = _addon(_cred("fal/key", "*.fal.run"))
    f = _tunnel_flow(addon, run, host_header=host_header, sni=sni)
    if sni:
        addon.clients[f.client_conn.id].tunnel.refusal = (policy.Verdict.MISMATCH, "sni")  # type: ignore[union-attr]
    asyncio.run(addon.requestheaders(f))
    assert f.response is not None and f.response.status_code == 403
    assert "Authorization" not in f.request.headers
    assert records[-1]["decision"] == "mismatch"


def test_ambiguous_names_both() -> None:
    addon, run, records = _addon(_cred("fal/key", "*.fal.run"), _cred("fal2/key", "api.fal.run"))
    f = _tunnel_flow(addon, run)
    asyncio.run(addon.requestheaders(f))
    assert f.response is not None and f.response.status_code == 403
    assert b"fal/key" in f.response.content and b"fal2/key" in f.response.content  # type: ignore[operator]
    assert records[-1]["decision"] == "ambiguous"


def test_path_narrowing_withholds() -> None:
    addon, run, records = _addon(_cred("fal/key", "*.fal.run", path="/v1/**"))
    f = _tunnel_flow(addon, run, path="/v2/x")
    asyncio.run(addon.requestheaders(f))
    assert f.response is None and "Authorization" not in f.request.headers
    assert records[-1]["decision"] == "no_credential"


def test_query_template() -> None:
    t = HostTemplate("api.fal.run", query_param="key", prefix="")
    req = tutils.treq(path=b"/x?key=client&a=1")
    inject(req, t, Secret("v"))
    assert req.query.get_all("key") == ["v"] and req.query["a"] == "1"


def test_cleartext_inside_tunnel_never_injected() -> None:
    addon, run, records = _addon(_cred("fal/key", "*.fal.run"))
    f = _tunnel_flow(addon, run)
    f.client_conn.tls = False
    asyncio.run(addon.requestheaders(f))
    assert "Authorization" not in f.request.headers
    assert records[-1]["decision"] == "no_credential"


def test_response_scrubbed_through_gzip() -> None:
    addon, run, _ = _addon(_cred("fal/key", "*.fal.run"))
    f = _tunnel_flow(addon, run)
    asyncio.run(addon.requestheaders(f))
    value = f"Key {SECRET}fal/key"
    f.response = tutils.tresp(content=b"")
    f.response.headers["Content-Encoding"] = "gzip"
    f.response.headers["X-Echo"] = value
    f.response.raw_content = gzip.compress(f'{{"auth": "{value}"}}'.encode())
    addon.responseheaders(f)
    addon.response(f)
    assert SECRET.encode() not in (f.response.content or b"")
    assert SECRET not in f.response.headers["X-Echo"]
    assert f.response.headers["Content-Encoding"] == "gzip"


def test_undecodable_injected_response_fails_closed() -> None:
    addon, run, _ = _addon(_cred("fal/key", "*.fal.run"))
    f = _tunnel_flow(addon, run)
    asyncio.run(addon.requestheaders(f))
    f.response = tutils.tresp(content=b"")
    f.response.headers["Content-Encoding"] = "gzip"
    f.response.raw_content = b"not gzip " + SECRET.encode()
    addon.responseheaders(f)
    addon.response(f)
    assert f.response.status_code == 502
    assert SECRET.encode() not in (f.response.raw_content or b"")


def test_uninjected_responses_stream() -> None:
    addon, run, _ = _addon()
    f = _tunnel_flow(addon, run)
    asyncio.run(addon.requestheaders(f))
    f.response = tutils.tresp()
    addon.responseheaders(f)
    assert f.response.stream is True


def test_registry_lookup() -> None:
    reg = RunRegistry()
    run = Run.make("r", [], {}, policy.DomainPolicy())
    reg.add(TOKEN, run)
    assert reg.lookup(TOKEN) is run
    assert reg.lookup("x" * 43) is None and reg.lookup(None) is None
    assert reg.remove(TOKEN) is run and reg.lookup(TOKEN) is None


def test_uninjected_response_of_a_credentialed_run_is_scrubbed_too() -> None:
    addon, run, _ = _addon(_cred("fal/key", "*.fal.run", path="/v1/**"))
    f = _tunnel_flow(addon, run, path="/v2/stored")
    asyncio.run(addon.requestheaders(f))
    assert "Authorization" not in f.request.headers
    f.response = tutils.tresp(content=f"stored: {SECRET}fal/key".encode())
    addon.responseheaders(f)
    assert not f.response.stream
    addon.response(f)
    assert SECRET.encode() not in (f.response.content or b"")


def test_absolute_form_authority_must_match_too() -> None:
    addon, run, records = _addon(_cred("fal/key", "*.fal.run"))
    f = _tunnel_flow(addon, run)
    f.request.authority = "attacker.test"
    asyncio.run(addon.requestheaders(f))
    assert f.response is not None and f.response.status_code == 403
    assert "Authorization" not in f.request.headers
    assert records[-1]["decision"] == "mismatch"
