from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from vshell.credentials import (
    Credential,
    CredentialStore,
    HostTemplate,
    parse_ref,
    path_matches,
    select,
)
from vshell.errors import CredentialError, ExitCode, StateError
from vshell.state import StatePaths


@pytest.fixture
def store(vsh_home: Path) -> CredentialStore:
    return CredentialStore(StatePaths(vsh_home))


# -- references ---------------------------------------------------------------------------------

@pytest.mark.parametrize("ref", ["fal/api_key", "a/b", "my-svc.v2/TOKEN_1", "x.y/z-z"])
def test_parse_ref_ok(ref: str) -> None:
    assert "/".join(parse_ref(ref)) == ref


@pytest.mark.parametrize("ref", ["", "fal", "fal/", "/key", "a/b/c", "a b/c", "a/b c", "../x", "a/..", "a/$X", "ü/x", "a/b\n", "a\n/b"])
def test_parse_ref_rejects(ref: str) -> None:
    with pytest.raises(CredentialError):
        parse_ref(ref)


# -- templates ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "tmpl",
    [
        HostTemplate("*.com"), HostTemplate("*.co.uk"), HostTemplate("com"), HostTemplate("*.github.io"),
        HostTemplate("bad..host"), HostTemplate("*x.com"), HostTemplate("a.com", header="Bad Header"),
        HostTemplate("a.com", header="Host"), HostTemplate("a.com", header="Content-Length"),
        HostTemplate("a.com", prefix="x\r\nEvil: 1"), HostTemplate("a.com", query_param="a=b"),
        HostTemplate("a.com", path="v1/*"), HostTemplate("a.com", path="/v1/../x"),
        HostTemplate("a.com", methods=("GE T",)),
    ],
)
def test_template_validation_rejects(tmpl: HostTemplate) -> None:
    with pytest.raises(CredentialError):
        tmpl.validate()


def test_template_validation_normalises() -> None:
    t = HostTemplate("*.FAL.RUN.", prefix="Key ", methods=("get", "post", "GET")).validate()
    assert t.host == "*.fal.run"
    assert t.methods == ("GET", "POST")


# -- store --------------------------------------------------------------------------------------

def test_add_list_get_resolve(store: CredentialStore) -> None:
    c = store.add("fal/api_key", [HostTemplate("*.fal.run", prefix="Key ")], now=10.0)
    assert uuid.UUID(c.id)
    assert c.ref == "fal/api_key" and c.created == c.updated == 10.0
    assert [x.ref for x in store.list()] == ["fal/api_key"]
    assert store.get("fal/api_key") == c
    assert store.get(c.id) == c
    assert store.get(c.id.upper()) == c
    assert store.resolve(["fal/api_key", c.id]) == [c]
    data = json.loads(store.file.read_text())
    assert data["version"] == 1
    assert store.file.stat().st_mode & 0o777 == 0o600


def test_resolve_unknown_names_reference(store: CredentialStore) -> None:
    store.add("fal/api_key", [HostTemplate("*.fal.run")])
    with pytest.raises(CredentialError) as e:
        store.resolve(["fal/api_key", "fal/nope"])
    assert "fal/nope" in e.value.message
    assert e.value.exit_code == ExitCode.VSH_FAILED == 125
    with pytest.raises(CredentialError):
        store.resolve([str(uuid.uuid4())])
    with pytest.raises(CredentialError, match="invalid credential reference"):
        store.resolve(["a/b/c"])


def test_resolve_empty_store_and_no_refs(store: CredentialStore) -> None:
    assert store.resolve([]) == []
    with pytest.raises(CredentialError, match="x/y"):
        store.resolve(["x/y"])
    assert not store.file.exists()


def test_write_once(store: CredentialStore) -> None:
    first = store.add("fal/api_key", [HostTemplate("*.fal.run")], now=1.0)
    with pytest.raises(CredentialError, match="already exists"):
        store.add("fal/api_key", [HostTemplate("api.fal.run")])
    second = store.add("fal/api_key", [HostTemplate("api.fal.run")], replace=True, now=2.0)
    assert second.id == first.id and second.created == 1.0 and second.updated == 2.0
    assert second.templates[0].host == "api.fal.run"


def test_rejects_public_suffix_on_add(store: CredentialStore) -> None:
    with pytest.raises(CredentialError, match="public suffix"):
        store.add("x/y", [HostTemplate("*.co.uk")])
    with pytest.raises(CredentialError, match="at least one"):
        store.add("x/y", [])
    assert not store.file.exists()


def test_templates_add_remove(store: CredentialStore) -> None:
    store.add("gh/token", [HostTemplate("api.github.com", prefix="Bearer ")])
    c = store.add_template("gh/token", HostTemplate("uploads.github.com", prefix="Bearer "))
    assert [t.host for t in c.templates] == ["api.github.com", "uploads.github.com"]
    with pytest.raises(CredentialError, match="already has"):
        store.add_template("gh/token", HostTemplate("uploads.github.com", prefix="Bearer "))
    c = store.remove_template("gh/token", 0)
    assert [t.host for t in c.templates] == ["uploads.github.com"]
    with pytest.raises(CredentialError, match="only template"):
        store.remove_template("gh/token", 0)
    with pytest.raises(CredentialError, match="no template 5"):
        store.remove_template("gh/token", 5)


def test_remove(store: CredentialStore) -> None:
    c = store.add("a/b", [HostTemplate("a.example.com")])
    assert store.remove(c.id) == c
    assert store.list() == []
    with pytest.raises(CredentialError):
        store.remove("a/b")


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"version": 99, "credentials": []}',
                                     b'{"version": 1, "credentials": [{"id": 1}]}', b"\xff\xfe"])
def test_corrupt_file_is_reported_and_left_alone(store: CredentialStore, content: bytes) -> None:
    store.paths.ensure()
    store.file.write_bytes(content)
    with pytest.raises(StateError) as e:
        store.list()
    assert str(store.file) in e.value.message
    with pytest.raises(StateError):
        store.add("a/b", [HostTemplate("a.example.com")])
    with pytest.raises(StateError):
        store.resolve(["a/b"])
    assert store.file.read_bytes() == content


def test_resolve_is_cheap() -> None:
    code = (
        "import sys; from vshell.credentials import CredentialStore; from vshell.state import StatePaths;"
        "import tempfile; CredentialStore(StatePaths.from_env({'VSH_HOME': tempfile.mkdtemp()})).resolve([]);"
        "print(sorted(m for m in ('keyring', 'cryptography', 'tldextract', 'mitmproxy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- path globs ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("glob", "path", "ok"),
    [
        (None, "/anything", True),
        ("/v1/*", "/v1/run", True),
        ("/v1/*", "/v1/run?x=1", True),
        ("/v1/*", "/v1/a/b", False),
        ("/v1/**", "/v1/a/b", True),
        ("/v1/*", "/v2/run", False),
        ("/v1/*", "/v1/../admin", False),
        ("/v1/**", "/v1/%2e%2e/admin", False),
        ("/v1/**", "/v1//x", False),
        ("/v1/**", "/v1/a%2Fb", False),
        ("/v1/**", "/v1\\..\\x", False),
        ("/v1/run", "/v1/run", True),
        ("/v1/**", "/v1/..;/admin", False),
        ("/v1/**", "/v1/x;a=b", False),
        ("/v1/run", "/v1/runx", False),
        ("/v1/ru?", "/v1/run", True),
    ],
)
def test_path_matches(glob: str | None, path: str, ok: bool) -> None:
    assert path_matches(glob, path) is ok


# -- selection ----------------------------------------------------------------------------------

def cred(ref: str, *templates: HostTemplate) -> Credential:
    service, field = parse_ref(ref)
    return Credential(id=str(uuid.uuid4()), service=service, field=field,
                      templates=tuple(t.validate() for t in templates))


FAL = cred("fal/api_key", HostTemplate("*.fal.run", prefix="Key "))
FAL2 = cred("fal/other", HostTemplate("api.fal.run"))
FAL_MULTI = cred(
    "fal/multi",
    HostTemplate("*.fal.run", header="X-Wild"),
    HostTemplate("api.fal.run", header="X-Exact"),
    HostTemplate("api.fal.run", header="X-Upload", path="/upload/**", methods=("PUT",)),
)
GH_READ = cred("gh/read", HostTemplate("api.github.com", methods=("GET", "HEAD")))
GH_WRITE = cred("gh/write", HostTemplate("api.github.com", methods=("POST", "PATCH", "DELETE")))
GH_ANY = cred("gh/any", HostTemplate("api.github.com"))
PORTED = cred("local/k", HostTemplate("svc.example.com:8443"))
QUERY = cred("maps/key", HostTemplate("maps.example.com", query_param="key"))


@pytest.mark.parametrize(
    ("creds", "host", "port", "path", "method", "chosen", "header", "ambiguous", "candidates"),
    [
        ((FAL,), "api.fal.run", 443, "/x", "GET", "fal/api_key", "Authorization", False, ("fal/api_key",)),
        ((FAL,), "fal.run", 443, "/", "GET", "fal/api_key", "Authorization", False, ("fal/api_key",)),
        ((FAL,), "API.FAL.RUN.", 443, "/", "GET", "fal/api_key", "Authorization", False, ("fal/api_key",)),
        ((FAL,), "evilfal.run", 443, "/", "GET", None, None, False, ()),
        ((FAL,), "fal.run.attacker.test", 443, "/", "GET", None, None, False, ()),
        ((), "api.fal.run", 443, "/", "GET", None, None, False, ()),
        ((FAL, FAL2), "api.fal.run", 443, "/", "GET", None, None, True, ("fal/api_key", "fal/other")),
        ((FAL, FAL2), "www.fal.run", 443, "/", "GET", "fal/api_key", "Authorization", False, ("fal/api_key",)),
        ((FAL_MULTI,), "api.fal.run", 443, "/x", "GET", "fal/multi", "X-Exact", False, ("fal/multi",)),
        ((FAL_MULTI,), "api.fal.run", 443, "/upload/a/b", "PUT", "fal/multi", "X-Upload", False, ("fal/multi",)),
        ((FAL_MULTI,), "api.fal.run", 443, "/upload/a/b", "put", "fal/multi", "X-Upload", False, ("fal/multi",)),
        ((FAL_MULTI,), "api.fal.run", 443, "/upload/../x", "PUT", "fal/multi", "X-Exact", False, ("fal/multi",)),
        ((FAL_MULTI,), "www.fal.run", 443, "/", "GET", "fal/multi", "X-Wild", False, ("fal/multi",)),
        # narrowing by method happens before ambiguity is judged
        ((GH_READ, GH_WRITE), "api.github.com", 443, "/", "GET", "gh/read", "Authorization", False, ("gh/read",)),
        ((GH_READ, GH_WRITE), "api.github.com", 443, "/", "POST", "gh/write", "Authorization", False, ("gh/write",)),
        ((GH_READ, GH_WRITE), "api.github.com", 443, "/", "PUT", None, None, False, ()),
        ((GH_READ, GH_ANY), "api.github.com", 443, "/", "GET", None, None, True, ("gh/read", "gh/any")),
        ((GH_READ, GH_ANY), "api.github.com", 443, "/", "POST", "gh/any", "Authorization", False, ("gh/any",)),
        ((PORTED,), "svc.example.com", 8443, "/", "GET", "local/k", "Authorization", False, ("local/k",)),
        ((PORTED,), "svc.example.com", 443, "/", "GET", None, None, False, ()),
        ((QUERY,), "maps.example.com", 443, "/geo", "GET", "maps/key", "Authorization", False, ("maps/key",)),
        ((FAL,), "not a host", 443, "/", "GET", None, None, False, ()),
    ],
)
def test_select_table(
    creds: tuple[Credential, ...], host: str, port: int, path: str, method: str,
    chosen: str | None, header: str | None, ambiguous: bool, candidates: tuple[str, ...],
) -> None:
    s = select(creds, host, port, path, method)
    assert (s.credential.ref if s.credential else None) == chosen
    assert (s.template.header if s.template else None) == header
    assert s.ambiguous is ambiguous
    assert s.candidates == candidates
    assert s.reasons
    if ambiguous:
        assert s.credential is None and s.template is None
        assert all(ref in s.reasons[-1] for ref in candidates)


def test_select_query_template_kept() -> None:
    s = select((QUERY,), "maps.example.com", 443, "/", "GET")
    assert s.template is not None and s.template.query_param == "key"


def test_metadata_never_holds_values(store: CredentialStore) -> None:
    c = store.add("a/b", [HostTemplate("a.example.com")])
    assert not hasattr(c, "value")
    assert set(json.loads(store.file.read_text())["credentials"][0]) == {
        "id", "service", "field", "ref", "templates", "allowed_domains", "allowed_tools", "created", "updated"}


def test_usage_policy_validated_and_stored(store: CredentialStore) -> None:
    c = store.add("a/b", [HostTemplate("a.example.com")], allowed_domains=["*.example.com", "*"],
                  allowed_tools=["bash"])
    assert store.get("a/b").allowed_domains == ("*.example.com", "*") and c.allowed_tools == ("bash",)
    with pytest.raises(CredentialError, match="unknown tool"):
        store.add("c/d", [HostTemplate("a.example.com")], allowed_tools=["python"])
    with pytest.raises(CredentialError, match="invalid allowed domain"):
        store.add("c/d", [HostTemplate("a.example.com")], allowed_domains=["bad domain"])


def _add_many(root: str, k: int) -> None:
    s = CredentialStore(StatePaths(Path(root)))
    for i in range(8):
        s.add(f"svc{k}/f{i}", [HostTemplate(f"api{k}.example.com")])


def test_concurrent_adds_lose_nothing(store: CredentialStore) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_add_many, args=(str(store.paths.root), k)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert len(store.list()) == 32


def test_select_order_independent() -> None:
    from itertools import permutations

    pool = (FAL, FAL2, FAL_MULTI, GH_READ, GH_WRITE, GH_ANY, PORTED, QUERY)
    requests = [("api.fal.run", 443, "/upload/x", "PUT"), ("www.fal.run", 443, "/", "GET"),
                ("api.github.com", 443, "/", "GET"), ("api.github.com", 443, "/", "POST")]
    for combo in permutations(pool, 3):
        for req in requests:
            a = select(combo, *req)
            b = select(tuple(reversed(combo)), *req)
            assert (a.credential, a.template, a.ambiguous) == (b.credential, b.template, b.ambiguous)
            assert sorted(a.candidates) == sorted(b.candidates)
