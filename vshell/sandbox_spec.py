"""The platform-neutral description of one sandboxed run.

Built once from config, CLI options and state paths (vshell.sandbox.build_spec); each backend
(bwrap/ on Linux, sbpl/ on macOS) turns it into an argv list. Backends never read config themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Entries of every git directory (`.git`, a submodule's or linked worktree's, the target of a
# `gitdir:` pointer, a bare repository) that make host git run code or read its configuration from
# elsewhere: hooks, config (core.fsmonitor, core.hooksPath, ...), config.worktree (with
# extensions.worktreeConfig), commondir (where config and hooks are read from) and a linked
# worktree's gitdir (the way back to its working tree). Not here, on purpose: info/attributes only
# selects drivers that config defines; objects/info/alternates only lends objects.
GIT_DIR_PROTECTED: tuple[str, ...] = ("hooks/", "config", "config.worktree", "commondir", "gitdir")

# Shell and session start-up files: each is run by some shell or login session when it starts.
SHELL_STARTUP: tuple[str, ...] = (
    ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".bash_aliases", ".bashrc.d/",
    ".profile", ".shrc",
    ".zshrc", ".zshenv", ".zprofile", ".zlogin", ".zlogout",
    ".kshrc", ".mkshrc", ".yashrc", ".yash_profile",
    ".cshrc", ".tcshrc", ".login", ".logout",
    ".xonshrc", ".config/xonsh/", ".config/fish/", ".config/nushell/", ".config/powershell/",
    ".config/elvish/", ".elvish/",
    ".xprofile", ".xsession", ".xsessionrc", ".xinitrc",
    ".inputrc",
)

# Other coding agents' project settings: each can name MCP servers or hooks the agent starts on
# the host when it opens the project.
AGENT_CONFIGS: tuple[str, ...] = (
    ".gemini/", ".codex/", ".amazonq/", ".kiro/", ".roo/", ".windsurf/", ".continue/", ".aider.conf.yml",
    ".zed/", ".github/copilot/",
)

# Files whose commands host tools run without asking again: pre-commit and lefthook run the hooks
# they list from the (protected) git hook they installed; VS Code runs a dev container's
# initializeCommand on the host; mise runs the tasks and hooks of a config it trusts by path.
TOOL_CONFIGS: tuple[str, ...] = (
    ".pre-commit-config.yaml", "lefthook.yml", ".lefthook.yml", "lefthook-local.yml", ".lefthook-local.yml",
    ".devcontainer/", ".devcontainer.json", "mise.toml", ".mise.toml", "mise.local.toml", ".mise.local.toml",
    ".mise/", ".config/mise/",
)

# Names protected from writes at any depth of the workspace, even when absent when the run starts.
# A trailing "/" marks a directory (everything below it is protected too).
PROTECTED_NAMES: tuple[str, ...] = (
    *(f".git/{name}" for name in GIT_DIR_PROTECTED),
    ".gitmodules",
    *SHELL_STARTUP,
    ".vscode/",
    ".idea/",
    ".mcp.json",
    ".envrc",
    ".claude/",
    ".cursor/",
    *AGENT_CONFIGS,
    *TOOL_CONFIGS,
)

# Where the egress pieces appear inside a Linux sandbox (macOS uses the host paths directly).
INSIDE_RUN_DIR = Path("/run/vsh")
INSIDE_PROXY_SOCKET = INSIDE_RUN_DIR / "proxy.sock"
INSIDE_FORWARDER = INSIDE_RUN_DIR / "forwarder.py"


def inside_forwarder(host_file: Path) -> Path:
    """Where the forwarder is bound inside: its source, or its bytecode (forwarder.pyc) when the
    runner could compile it."""
    return INSIDE_FORWARDER.with_suffix(".pyc") if host_file.suffix == ".pyc" else INSIDE_FORWARDER
INSIDE_CA_BUNDLE = INSIDE_RUN_DIR / "ca.pem"
# The system CA bundle paths replaced by the run's bundle when the proxy is on (those that exist).
SYSTEM_CA_BUNDLES: tuple[Path, ...] = (
    Path("/etc/ssl/certs/ca-certificates.crt"),
    Path("/etc/pki/tls/certs/ca-bundle.crt"),
    Path("/etc/ssl/cert.pem"),
)

# Credential stores relative to the caller's home: never readable inside.
CREDENTIAL_STORES: tuple[str, ...] = (
    ".ssh",
    ".aws",
    ".gnupg",
    ".netrc",
    ".git-credentials",
    ".config/gh",
    ".docker/config.json",
    ".kube",
    ".npmrc",
    ".pypirc",
    ".config/gcloud",
    ".azure",
    # less usual, as listed by a red-team pass: tokens, keyrings, password stores, shell histories
    ".config/git/credentials",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".vault-token",
    ".terraform.d/credentials.tfrc.json",
    ".terraformrc",
    ".password-store",
    ".local/share/keyrings",
    ".config/hub",
    ".config/op",
    ".gem/credentials",
    ".pgpass",
    ".my.cnf",
    ".s3cfg",
    ".boto",
    ".oci",
    ".config/rclone",
    ".config/doctl",
    ".bash_history",
    ".zsh_history",
    ".python_history",
    ".psql_history",
    ".mysql_history",
    ".node_repl_history",
    ".lesshst",
    # a QA pass over the public case kinds: container, build-tool and AI-tool tokens, X and browser
    # sessions, more histories
    ".config/containers/auth.json",
    ".m2/settings.xml",
    ".m2/settings-security.xml",
    ".gradle/gradle.properties",
    ".cache/huggingface/token",
    ".huggingface/token",
    ".claude/.credentials.json",
    ".codex/auth.json",
    ".config/sops",
    ".pulumi/credentials.json",
    ".databrickscfg",
    ".yarnrc",
    ".yarnrc.yml",
    ".config/configstore",
    ".config/netlify",
    ".config/heroku",
    ".wrangler",
    ".Xauthority",
    ".mozilla",
    ".config/google-chrome",
    ".config/chromium",
    ".config/BraveSoftware",
    ".config/microsoft-edge",
    ".local/share/fish/fish_history",
    ".zhistory",
    ".histfile",
    ".sqlite_history",
    ".rediscli_history",
    ".irb_history",
    ".pry_history",
    ".Rhistory",
)

# Variables that move a credential store elsewhere: name -> what to hide under the path it holds
# (() hides the path itself; for a tool's home, only its secret files: CARGO_HOME/bin holds the
# toolchain, DOCKER_CONFIG/cli-plugins docker compose, HF_HOME the model cache). KUBECONFIG is a
# list. XDG_CONFIG_HOME and XDG_DATA_HOME move every `.config/...` and `.local/share/...` entry of
# CREDENTIAL_STORES.
CREDENTIAL_STORE_VARIABLES: dict[str, tuple[str, ...]] = {
    "NETRC": (), "KUBECONFIG": (), "GNUPGHOME": (), "AWS_SHARED_CREDENTIALS_FILE": (), "AWS_CONFIG_FILE": (),
    "PASSWORD_STORE_DIR": (), "CLOUDSDK_CONFIG": (), "GH_CONFIG_DIR": (), "AZURE_CONFIG_DIR": (),
    "GIT_CONFIG_GLOBAL": (), "NPM_CONFIG_USERCONFIG": (), "PYPIRC": (), "VAULT_CONFIG_PATH": (),
    "HF_TOKEN_PATH": (), "PGPASSFILE": (), "RCLONE_CONFIG": (), "OCI_CLI_CONFIG_FILE": (), "SOPS_AGE_KEY_FILE": (),
    "CARGO_HOME": ("credentials", "credentials.toml"), "DOCKER_CONFIG": ("config.json",), "HF_HOME": ("token",),
    "MYSQL_HOME": ("my.cnf",),
}



def under(p: Path, root: Path) -> bool:
    """Whether `p` is `root` or below it (lexically): the spec's paths are resolved already."""
    return p == root or root in p.parents


@dataclass(frozen=True)
class NetworkPolicy:
    """How the sandbox reaches the outside.

    mode "none": no network at all (a private loopback only).
    mode "proxy": still no network of its own; the proxy's unix socket `proxy_socket` (a host path)
      is bound inside and a forwarder exposes it at 127.0.0.1:`inside_port`. `ca_bundle` (a host
      path to a PEM bundle: system CAs plus vsh's public CA) replaces the system bundle inside.
    """

    mode: str = "none"
    proxy_socket: Path | None = None
    inside_port: int = 3128
    ca_bundle: Path | None = None
    # Host path of the stdlib-only forwarder script (vshell.proxy.forwarder), bound read-only inside
    # at INSIDE_FORWARDER on Linux. None: the runner does not wrap the command.
    forwarder: Path | None = None
    # System CA bundle paths (of SYSTEM_CA_BUNDLES) that exist on this host: the run's bundle is
    # bound over each. Empty: only INSIDE_CA_BUNDLE carries it.
    system_ca_paths: tuple[Path, ...] = ()


@dataclass(frozen=True)
class SandboxSpec:
    """Everything a backend needs. Paths are absolute host paths.

    argv: the program and its arguments, passed exactly (no shell is added by the backend).
    cwd: where the program starts; inside `workspace`.
    env: the complete environment inside (already filtered through the allow list).
    home: HOME inside the sandbox (the caller's home path, mostly read-only; credential stores hidden).
    workspace: the only writable tree (besides a private /tmp).
    hidden: paths that must be neither readable nor writable inside (state root, credential stores,
      configured extras). Absent paths are still hidden if they appear later when feasible.
    protected_names: names relative to any directory of the workspace that must not be written,
      created, renamed or removed (see PROTECTED_NAMES).
    protected_paths: absolute paths outside the workspace that must not be written or created
      (e.g. shell start-up files in HOME) — the system is read-only anyway; listed for macOS.
    """

    argv: tuple[str, ...]
    cwd: Path
    workspace: Path
    home: Path
    env: Mapping[str, str] = field(default_factory=dict)
    hidden: tuple[Path, ...] = ()
    protected_names: tuple[str, ...] = PROTECTED_NAMES
    protected_paths: tuple[Path, ...] = ()
    network: NetworkPolicy = NetworkPolicy()
    state_root: Path | None = None  # $VSH_HOME: hidden, even when inside the workspace
    # Filled by vshell.sandbox.build_spec from a walk of the workspace (the Linux backend mounts
    # each one; sbpl matches protected names by regex and may ignore them):
    # protected_found: existing paths in the workspace whose name is protected (see PROTECTED_NAMES),
    #   plus `.git` files (gitdir pointers). Each is bound read-only over itself.
    # pinned: existing directories bound onto themselves (still writable) so that they are mount
    #   points: `mv .git .g` or renaming a directory on the way to a hidden state root then fails
    #   with EBUSY. Empty tuples mean "nothing found", not "not looked".
    protected_found: tuple[Path, ...] = ()
    pinned: tuple[Path, ...] = ()
    # git_dirs: git directories in the workspace that are not named `.git` (see GIT_DIR_PROTECTED):
    #   the targets of `gitdir:` pointers in `.git` files (even when absent: one created during the
    #   run is what host git would use) and bare repositories. Existing ones are in `pinned` and
    #   their protected entries in `protected_found`; Linux checks them again after the run, macOS
    #   denies their protected entries by path.
    git_dirs: tuple[Path, ...] = ()
    # watched: paths in the workspace that a repository's config names (core.hooksPath, include.path,
    #   includeIf.*.path, recursively) and that are absent at the start: the run may not leave them
    #   behind (Linux moves them away after it; macOS denies them by path). Existing ones are
    #   protected like `.git/hooks` (in protected_found).
    watched: tuple[Path, ...] = ()
    # Linux: install the seccomp filter (no new AF_UNIX sockets, no io_uring) for the whole sandbox.
    # False only when the proxy forwarder inside needs AF_UNIX; it then applies the filter itself
    # before starting the command (see vshell.runner).
    seccomp: bool = True
