"""Where credential values live: the OS keyring when it is a real one, else an encrypted file.

Backend choice (`open_vault`), first that applies:
1. `VSH_VAULT_BACKEND=file` forces the encrypted file; `VSH_VAULT_BACKEND=keyring` requires a
   usable keyring and fails otherwise. Either only narrows the automatic choice; unset or `auto`
   is the automatic choice. Any other value is an error.
2. An existing vault file keeps being used, so values never end up split across two stores.
3. The OS keyring, when its backend is usable: keyring's `fail` and `null` backends, every
   `keyrings.alt` backend (plaintext or weakly protected files), a chainer with nothing usable
   first, and any backend of priority <= 0 are refused.
4. Otherwise the AES-256-GCM file `$VSH_HOME/vault.enc`: JSON `{version, kdf, nonce, ciphertext}`
   whose plaintext is a JSON object of credential id -> value. The key is either a random 256-bit
   key in `$VSH_HOME/vault.key` (0600, created on first use) or, when `VSH_VAULT_PASSPHRASE` is
   set, derived from it with scrypt (salt and cost in `kdf`). Each write uses a fresh nonce; the
   associated data binds the format version and the kdf parameters. A file written with the random
   key is re-encrypted with the passphrase on the next write once `VSH_VAULT_PASSPHRASE` is set.

A vault that cannot be read or decrypted is an error naming the file; it is never replaced,
truncated or re-keyed. keyring and cryptography are imported only here, lazily.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from vshell.errors import CredentialError, StateError
from vshell.secret import Secret
from vshell.state import StatePaths, atomic_write

FORMAT_VERSION = 1
KEYRING_SERVICE = "vsh"
BACKEND_ENV = "VSH_VAULT_BACKEND"
PASSPHRASE_ENV = "VSH_VAULT_PASSPHRASE"
_AAD_PREFIX = b"vsh-vault/v1\0credential-values\0"
_NONCE_BYTES = 12
_KEY_BYTES = 32
# scrypt cost for new files (~32 MiB, ~0.1 s) and the most a file may ask for when read.
SCRYPT_DEFAULT = {"n": 2**15, "r": 8, "p": 1}
_SCRYPT_MAX = {"n": 2**20, "r": 16, "p": 4}


class Vault(Protocol):
    backend_name: str

    def get(self, cred_id: str) -> Secret: ...

    def put(self, cred_id: str, secret: Secret) -> None: ...

    def delete(self, cred_id: str) -> None: ...


def _missing(cred_id: str) -> CredentialError:
    return CredentialError(
        f"no value stored for credential {cred_id}",
        hint="store it again with: vsh cred add SERVICE/FIELD --replace --host HOST",
    )


# -- keyring ------------------------------------------------------------------------------------

def keyring_refusal(backend: Any) -> str | None:
    """Why `backend` (a keyring backend instance) must not hold secrets, or None if it is usable."""
    from keyring.backends import chainer, fail, null

    name = f"{type(backend).__module__}.{type(backend).__qualname__}"
    if isinstance(backend, fail.Keyring):
        return "keyring has no backend (fail.Keyring)"
    if isinstance(backend, null.Keyring):
        return "keyring is the null backend"
    if type(backend).__module__.startswith("keyrings.alt"):
        return f"{name} stores secrets in a plaintext or weakly protected file"
    if isinstance(backend, chainer.ChainerBackend):
        inner = list(getattr(backend, "backends", []))
        if not inner:
            return "keyring chainer has no backends"
        first = keyring_refusal(inner[0])
        if first is not None:
            return f"keyring chainer's first backend is unusable: {first}"
    try:
        priority = float(type(backend).priority)
    except Exception as e:  # keyring backends signal "not viable" by raising from priority
        return f"{name} is not viable: {e}"
    if priority <= 0:
        return f"{name} has priority {priority} (not a real keyring)"
    return None


@dataclass
class KeyringVault:
    backend: Any
    backend_name: str = ""

    def __post_init__(self) -> None:
        self.backend_name = f"keyring ({type(self.backend).__name__})"

    @staticmethod
    def _user(cred_id: str) -> str:
        return f"credential:{cred_id}"

    def get(self, cred_id: str) -> Secret:
        from keyring.errors import KeyringError

        try:
            value = self.backend.get_password(KEYRING_SERVICE, self._user(cred_id))
        except KeyringError as e:
            raise CredentialError(f"cannot read credential {cred_id} from the keyring: {type(e).__name__}") from None
        if value is None:
            raise _missing(cred_id)
        return Secret(value)

    def put(self, cred_id: str, secret: Secret) -> None:
        from keyring.errors import KeyringError

        try:
            self.backend.set_password(KEYRING_SERVICE, self._user(cred_id), secret.reveal())
        except KeyringError as e:
            raise CredentialError(f"cannot store credential {cred_id} in the keyring: {type(e).__name__}") from None

    def delete(self, cred_id: str) -> None:
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            self.backend.delete_password(KEYRING_SERVICE, self._user(cred_id))
        except PasswordDeleteError:
            return
        except KeyringError as e:
            raise CredentialError(f"cannot delete credential {cred_id} from the keyring: {type(e).__name__}") from None


# -- encrypted file -----------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("expected base64 text")
    return base64.b64decode(text.encode("ascii"), validate=True)


def _aad(kdf: Mapping[str, Any]) -> bytes:
    return _AAD_PREFIX + json.dumps(kdf, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class FileVault:
    """The AES-256-GCM vault file. See the module docstring for the format."""

    path: Path
    key_path: Path
    passphrase: str | None = None
    backend_name: str = "file"
    _keys: dict[str, bytes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.backend_name = "file (passphrase)" if self.passphrase else "file"

    # key material
    def _scrypt(self, kdf: Mapping[str, Any]) -> bytes:
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

        if self.passphrase is None:
            raise CredentialError(
                f"vault {self.path} is protected by a passphrase",
                hint=f"set {PASSPHRASE_ENV} to the passphrase it was written with",
            )
        salt = _unb64(kdf["salt"])
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        if not (n > 1 and n & (n - 1) == 0 and n <= _SCRYPT_MAX["n"] and 0 < r <= _SCRYPT_MAX["r"]
                and 0 < p <= _SCRYPT_MAX["p"] and len(salt) >= 16):
            raise ValueError("scrypt parameters out of range")
        cache_key = f"scrypt:{kdf['salt']}:{n}:{r}:{p}"
        if cache_key not in self._keys:
            self._keys[cache_key] = Scrypt(salt=salt, length=_KEY_BYTES, n=n, r=r, p=p).derive(self.passphrase.encode())
        return self._keys[cache_key]

    def _read_key_file(self) -> bytes | None:
        try:
            fd = os.open(self.key_path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StateError(f"cannot read vault key {self.key_path}: {e.strerror}") from None
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_mode & 0o077 or not stat.S_ISREG(st.st_mode):
                raise CredentialError(
                    f"vault key {self.key_path} is accessible to other users; refusing to use it",
                    hint=f"chmod 600 {self.key_path}",
                )
            raw = f.read()
        try:
            key = base64.b64decode(raw.strip(), validate=True)
        except ValueError:
            key = b""
        if len(key) != _KEY_BYTES:
            raise StateError(f"vault key {self.key_path} is corrupt and was left untouched")
        return key

    def _create_key_file(self) -> bytes:
        """Create the key file if absent (atomically: a racing process sees all of it or none)."""
        key = os.urandom(_KEY_BYTES)
        tmp = self.key_path.with_name(f".{self.key_path.name}.{os.getpid()}.tmp")
        self.key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_b64(key).encode() + b"\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, self.key_path)
            except FileExistsError:
                existing = self._read_key_file()
                assert existing is not None
                return existing
        finally:
            os.unlink(tmp)
        return key

    def _random_key(self, *, create: bool) -> bytes:
        key = self._read_key_file()
        if key is None:
            if not create:
                raise CredentialError(
                    f"vault key {self.key_path} is missing, so {self.path} cannot be decrypted; nothing was changed",
                    hint=f"restore {self.key_path}, or set {PASSPHRASE_ENV} if the vault used a passphrase",
                )
            key = self._create_key_file()
        return key

    def _key_for(self, kdf: Mapping[str, Any], *, create: bool = False) -> bytes:
        name = kdf.get("name")
        if name == "random-key":
            return self._random_key(create=create)
        if name == "scrypt":
            return self._scrypt(kdf)
        raise ValueError(f"unknown kdf {name!r}")

    # the file
    def _read(self) -> tuple[dict[str, str], dict[str, Any] | None]:
        """(values, kdf of the file) — ({}, None) when there is no file yet."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}, None
        except OSError as e:
            raise StateError(f"cannot read vault {self.path}: {e.strerror}") from None
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
                raise ValueError("unsupported vault format version")
            kdf = doc["kdf"]
            if not isinstance(kdf, dict):
                raise ValueError("kdf is not an object")
            nonce, ciphertext = _unb64(doc["nonce"]), _unb64(doc["ciphertext"])
            if len(nonce) != _NONCE_BYTES:
                raise ValueError("bad nonce length")
            key = self._key_for(kdf)
        except (ValueError, KeyError, TypeError) as e:
            raise StateError(
                f"vault {self.path} is corrupt and was left untouched", detail=str(e),
                hint=f"restore {self.path} from a backup or move it aside",
            ) from None
        try:
            plain = AESGCM(key).decrypt(nonce, ciphertext, _aad(kdf))
        except InvalidTag:
            raise CredentialError(
                f"cannot decrypt vault {self.path}: wrong key or passphrase, or the file is damaged; it was left untouched",
                hint=f"check {PASSPHRASE_ENV} and {self.key_path}",
            ) from None
        try:
            values = json.loads(plain)
            if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
                raise ValueError("vault content is not an object of strings")
        except ValueError:
            raise StateError(f"vault {self.path} decrypted to unexpected content; it was left untouched") from None
        return values, kdf

    def _new_kdf(self, old: dict[str, Any] | None) -> dict[str, Any]:
        if self.passphrase:
            if old is not None and old.get("name") == "scrypt":
                return old  # same salt and cost: the cached key is reused; the nonce is fresh
            return {"name": "scrypt", "salt": _b64(os.urandom(16)), **SCRYPT_DEFAULT}
        if old is not None:
            return old
        return {"name": "random-key"}

    def _write(self, values: Mapping[str, str], old_kdf: dict[str, Any] | None) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        kdf = self._new_kdf(old_kdf)
        key = self._key_for(kdf, create=True)
        nonce = os.urandom(_NONCE_BYTES)
        plain = json.dumps(dict(values), sort_keys=True).encode()
        doc = {
            "version": FORMAT_VERSION, "kdf": kdf, "nonce": _b64(nonce),
            "ciphertext": _b64(AESGCM(key).encrypt(nonce, plain, _aad(kdf))),
        }
        atomic_write(self.path, (json.dumps(doc, indent=1) + "\n").encode(), mode=0o600)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path.parent / ".vault.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # the Vault interface
    def get(self, cred_id: str) -> Secret:
        values, _ = self._read()
        if cred_id not in values:
            raise _missing(cred_id)
        return Secret(values[cred_id])

    def get_all(self) -> dict[str, Secret]:
        """Every stored value by credential id (for the ingress scan's known-value check)."""
        values, _ = self._read()
        return {k: Secret(v) for k, v in values.items()}

    def put(self, cred_id: str, secret: Secret) -> None:
        with self._locked():
            values, kdf = self._read()  # raises before anything is written if the file is unusable
            values[cred_id] = secret.reveal()
            self._write(values, kdf)

    def delete(self, cred_id: str) -> None:
        with self._locked():
            values, kdf = self._read()
            if values.pop(cred_id, None) is not None:
                self._write(values, kdf)


def open_vault(paths: StatePaths, environ: Mapping[str, str]) -> Vault:
    """The vault to use for this state root and environment (see the module docstring)."""
    forced = environ.get(BACKEND_ENV, "").strip().lower()
    if forced not in ("", "auto", "file", "keyring"):
        raise CredentialError(f"{BACKEND_ENV}={forced!r} is not one of: auto, file, keyring")
    passphrase = environ.get(PASSPHRASE_ENV) or None
    file_vault = FileVault(paths.vault, paths.vault_key, passphrase)
    if forced == "file" or (forced != "keyring" and paths.vault.exists()):
        return file_vault
    import keyring

    backend = keyring.get_keyring()
    refusal = keyring_refusal(backend)
    if refusal is None:
        return KeyringVault(backend)
    if forced == "keyring":
        raise CredentialError(f"{BACKEND_ENV}=keyring but {refusal}", hint=f"unset {BACKEND_ENV} to use the encrypted file")
    return file_vault


def stored_values(paths: StatePaths, environ: Mapping[str, str]) -> list[Secret]:
    """Every stored credential value, for the ingress scan (`secretscan.find_secrets(known=...)`).

    Cheap when nothing is stored: with no credential metadata, neither the keyring nor
    cryptography is imported. A value missing from the vault is skipped; a vault that cannot be
    read raises (the caller fails closed).
    """
    from vshell.credentials import CredentialStore

    creds = CredentialStore(paths).list()
    if not creds:
        return []
    vault = open_vault(paths, environ)
    out: list[Secret] = []
    for c in creds:
        try:
            out.append(vault.get(c.id))
        except CredentialError:
            continue
    return out
