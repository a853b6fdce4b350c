"""vsh: a sandboxing shell wrapper for AI agents and scripts, with a credential-injecting egress proxy."""

__version__ = "0.1.0"
