"""vsh: a sandboxing shell wrapper for AI agents and scripts, with a credential-injecting egress proxy."""

__version__ = "0.1.0"


def _find_checkout_subpackages() -> None:
    """In a source checkout, proxy/, bwrap/ and sbpl/ sit beside vshell/ (DESIGN.md fixes the layout);
    a built wheel carries them inside, as vshell.proxy and so on. Let a checkout import them by the
    same names, so that an editable install is a plain path (`editable_mode=compat`) rather than
    setuptools' import hook, which costs every vsh start 20 ms."""
    import os

    here = os.path.dirname(os.path.realpath(__file__))
    root = os.path.dirname(here)
    if not os.path.isdir(os.path.join(here, "proxy")) and os.path.isfile(os.path.join(root, "proxy", "__init__.py")):
        __path__.append(root)


_find_checkout_subpackages()
