from __future__ import annotations

import random
import string
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vshell.secretscan import DETECTORS, Finding, _raw_findings, find_secrets, redact


@pytest.mark.parametrize(
    ("kind", "example"), [(d.kind, e) for d in DETECTORS for e in d.examples]
)
def test_detector_examples(kind: str, example: str) -> None:
    assert any(f.kind == kind for f in _raw_findings(example, ())), example
    assert find_secrets(example)


@pytest.mark.parametrize("text", [e for d in DETECTORS for e in d.counter_examples])
def test_detector_counter_examples(text: str) -> None:
    assert find_secrets(text) == [], text


BENIGN = [
    "git log --oneline -n 20",
    "git show 3f786850e387550fdab836ed7e6dc881de23001b",
    "git diff 3f786850e387550fdab836ed7e6dc881de23001b..9c1185a5c5e9fc54612808977ee8f548b2258d31",
    "docker pull python@sha256:9c1185a5c5e9fc54612808977ee8f548b2258d31a1b2c3d4e5f60718293a4b5c",
    f"curl https://api.example.com/v1/items/{uuid.uuid4()}",
    "pytest tests/test_get_user_profile_by_id_returns_404.py -k test_get_user_profile_by_id_returns_404",
    "ls /usr/lib/x86_64-linux-gnu/libstdc++.so.6",
    "pip install 'requests==2.31.0' python-dateutil typing_extensions",
    "export PYTHONDONTWRITEBYTECODE=1 NODE_OPTIONS=--max-old-space-size=4096",
    "cd ~/projects/my-very-long-project-name-2024/src/components",
    "npm run build:production -- --config=webpack.production.config.js",
    "kubectl get pods -n kube-system -o jsonpath='{.items[*].metadata.name}'",
    "gcc -O2 -Wall -Wextra -fsanitize=address main.c -o main",
    "echo $OPENAI_API_KEY | wc -c",
    'curl -H "Authorization: Bearer $TOKEN" https://api.github.com/user',
    "export API_KEY=${API_KEY:-}",
    "git checkout -b feature/ABC-1234-add-login-page",
    "find . -name '*.py' -newer setup.cfg -print0 | xargs -0 grep -n TODO",
    "sha256sum dist/vsh-0.1.0-py3-none-any.whl",
    "aws s3 cp s3://my-bucket-name-2024/path/to/object.tar.gz .",
    "python -c 'import secrets; print(secrets.token_hex(32))'",
    "cat ~/.ssh/id_ed25519.pub",
    "password_reset_handler_v2 --dry-run",
    "ssh git@github.com",
    "echo ComExampleAppMainActivity",
    "echo MyClassNameWithNumbers123AndMore getUserById2FromDatabase",
    "kubectl logs payments-service-deployment-7d9f8c6b5-x2k4p -c app",
    "go get golang.org/x/tools@v0.0.0-20231010123456-abcdef123456",
    "python manage.py migrate app_name 0042_auto_20240101_1234",
    "aws ec2 describe-instances --instance-ids i-0abcd1234efgh5678",
]


@pytest.mark.parametrize("text", BENIGN)
def test_benign_commands_are_not_flagged(text: str) -> None:
    assert find_secrets(text) == [], [text[f.start:f.end] for f in find_secrets(text)]


def _random_tokens(alphabet: str, length: int, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(length)) for _ in range(n)]


@pytest.mark.parametrize(
    ("alphabet", "length", "min_rate"),
    [
        (string.ascii_letters + string.digits, 40, 0.99),  # AWS secret access keys and the like
        (string.ascii_letters + string.digits, 32, 0.98),
        (string.ascii_letters + string.digits, 24, 0.9),
        (string.ascii_lowercase + string.digits, 32, 0.9),
        (string.ascii_letters + string.digits + "+/", 40, 0.97),
    ],
)
def test_random_tokens_are_flagged(alphabet: str, length: int, min_rate: float) -> None:
    tokens = _random_tokens(alphabet, length, 300, seed=length * len(alphabet))
    hits = sum(1 for t in tokens if find_secrets(f"mytool --opt {t} --verbose"))
    assert hits / len(tokens) >= min_rate


def test_hex_and_uuids_never_flagged() -> None:
    rng = random.Random(7)
    for n in (20, 32, 40, 64, 128):
        token = "".join(rng.choice("0123456789abcdef") for _ in range(n))
        assert find_secrets(f"git cat-file -p {token}") == []
        assert find_secrets(f"x {token.upper()}") == []
    assert find_secrets(" ".join(str(uuid.uuid4()) for _ in range(5))) == []


def test_known_values() -> None:
    text = "curl -d 'x=tiny1' https://example.com?q=MyStoredValue&r=MyStoredValue"
    found = find_secrets(text, known=["MyStoredValue", "ab"])
    assert [(f.kind, text[f.start:f.end]) for f in found] == [("known", "MyStoredValue")] * 2
    assert redact(text, known=["MyStoredValue"]) == (
        "curl -d 'x=tiny1' https://example.com?q=[REDACTED:known]&r=[REDACTED:known]")


def test_redact_keeps_context_and_merges_overlaps() -> None:
    key = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345"
    text = f"export ANTHROPIC_API_KEY={key} && run"
    assert redact(text) == "export ANTHROPIC_API_KEY=[REDACTED:anthropic_key] && run"
    assert redact(text, known=[key]) == "export ANTHROPIC_API_KEY=[REDACTED:known] && run"
    pem = "a\n-----BEGIN PRIVATE KEY-----\nMIIE\nabc\n-----END PRIVATE KEY-----\nb"
    assert redact(pem) == "a\n[REDACTED:private_key]\nb"
    assert redact("-H 'Authorization: Bearer abcdef123456'") == "-H 'Authorization: Bearer [REDACTED:authorization_header]'"


def test_finding_holds_no_value() -> None:
    f = find_secrets("token=abcdefgh12345678")[0]
    assert isinstance(f, Finding)
    assert "abcdefgh" not in repr(f)


@given(st.text(max_size=300))
def test_never_raises_and_spans_are_sane(text: str) -> None:
    found = find_secrets(text, known=[text[:6]] if len(text) >= 6 else [])
    last = -1
    for f in found:
        assert 0 <= f.start < f.end <= len(text)
        assert f.start >= last
        last = f.end
    out = redact(text)
    assert all(text[f.start:f.end] not in out or len(text[f.start:f.end]) < 4 for f in find_secrets(text))


def test_fast_enough() -> None:
    import time

    line = " ".join(BENIGN) * 4
    t0 = time.perf_counter()
    for _ in range(50):
        find_secrets(line)
    per_call_ms = (time.perf_counter() - t0) / 50 * 1000
    assert per_call_ms < 20, per_call_ms


def test_refuse_literal_secrets() -> None:
    from vshell.errors import ExitCode, PolicyRefused
    from vshell.secretscan import refuse_literal_secrets

    refuse_literal_secrets("git status")
    key = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345"
    with pytest.raises(PolicyRefused) as e:
        refuse_literal_secrets(f"curl -H 'x-api-key: {key}' https://api.anthropic.com")
    assert e.value.exit_code == ExitCode.REFUSED
    assert key not in e.value.message and key not in (e.value.hint or "")
    assert "vsh cred add" in (e.value.hint or "")
    with pytest.raises(PolicyRefused, match="known"):
        refuse_literal_secrets("echo plainstoredvalue", known=["plainstoredvalue"])
