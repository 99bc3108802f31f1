"""Secrets masked out of everything shown to people: error messages, ``config show``, the
CLI's error line and the store's connection errors.

The configuration holds one kind of secret itself, the password of the database URL
(``postgresql://user:secret@host/db``); credentials of SMTP and webhooks are only named
there (``password_env``, ``secret_env``) and read from the environment at delivery time. A
mistaken file or ``MONITOR__*`` override can still put a secret where a name belongs
(``secret_env = "the-secret"``, ``MONITOR__EMAIL__PASSWORD=...``): values of keys that look
like secrets are masked whole.

:func:`mask_secrets` is the one masking function of the package; ``mask_url`` of
:mod:`monitor.store.session` renders a parsed URL with SQLAlchemy's ``hide_password`` and
falls back to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: What replaces a secret.
MASK = "***"

#: ``scheme://user:PASSWORD@``: SQLAlchemy takes everything up to the first ``@`` after the
#: user name's colon as the password (spaces included), so the mask does too.
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\n]*)@")
#: ``?token=...`` and the like in a URL's query.
_QUERY = re.compile(r"(?P<head>[?&;](?:[A-Za-z0-9_\-]*)(?:password|passwd|pwd|secret|token|"
                    r"api_?key|apikey|access_key|signature|sig|auth)=)(?P<v>[^&#\s'\"]*)",
                    re.IGNORECASE)
#: Keys whose values are secrets (or, for ``*_env``, name one: a secret pasted there by
#: mistake must not be echoed either).
_SECRET_KEY = re.compile(r"pass(word|wd)?|secret|token|api_?key|credential|private_?key",
                         re.IGNORECASE)


def is_secret_key(key: str) -> bool:
    """Whether a configuration key (``email.password_env``, ``MONITOR__X__TOKEN``) looks like
    it holds or names a secret."""
    return bool(_SECRET_KEY.search(key))


def mask_secrets(text: str) -> str:
    """``text`` with URL passwords and secret query parameters replaced by ``***``.

    Examples:
        ``postgresql://u:s3cret@db/x`` -> ``postgresql://u:***@db/x``;
        ``https://h/hook?token=abc`` -> ``https://h/hook?token=***``.
    """
    text = _USERINFO.sub(lambda m: f"{m['head']}{MASK if m['pw'] else ''}@", text)
    return _QUERY.sub(lambda m: f"{m['head']}{MASK if m['v'] else ''}", text)


def masked_value(key: str, value: Any) -> Any:
    """``value`` as it may be shown under ``key``: masked whole for a secret-looking key,
    else with :func:`mask_secrets` applied to its strings (recursively)."""
    if is_secret_key(key) and value not in (None, "", (), []):
        return MASK
    return mask_tree(value)


def mask_tree(value: Any, *, keep_env_names: bool = False) -> Any:
    """A copy of a JSON-like tree (dicts, lists, strings...) with every string masked by
    :func:`mask_secrets` and the values of secret-looking keys replaced by ``***``.

    Args:
        value: The tree (e.g. ``Settings.model_dump(mode="json")``).
        keep_env_names: Show the values of ``*_env`` keys: in a validated configuration
            they are environment variable names, not secrets (``config show``).
    """
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            name = str(k)
            if keep_env_names and name.endswith("_env"):
                out[k] = mask_tree(v, keep_env_names=keep_env_names)
            elif is_secret_key(name) and v not in (None, "", (), []):
                out[k] = MASK
            else:
                out[k] = mask_tree(v, keep_env_names=keep_env_names)
        return out
    if isinstance(value, list | tuple):
        return type(value)(mask_tree(v, keep_env_names=keep_env_names) for v in value)
    return value
