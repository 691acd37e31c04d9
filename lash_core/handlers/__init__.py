"""Friendly handlers: a scripted model for tests and demos, and typed functions as tools.

* :class:`ScriptedModel` answers model calls from a script of :func:`reply` /
  :func:`error_reply` values (or plain strings and dicts), checking each against its request;
* :func:`tool` makes a typed function a tool (its JSON schema from the type hints, its
  descriptions from the docstring); :class:`Toolbox` gathers tools into the turn's tool specs
  and its one ``tools`` handler; a :class:`ToolContext` parameter gives a tool its call and its
  completion key (``ctx.pending()``).
"""

from __future__ import annotations

from lash_core.handlers.scripted import Expect as Expect
from lash_core.handlers.scripted import ScriptedCall as ScriptedCall
from lash_core.handlers.scripted import ScriptedError as ScriptedError
from lash_core.handlers.scripted import ScriptedModel as ScriptedModel
from lash_core.handlers.scripted import ScriptedReply as ScriptedReply
from lash_core.handlers.scripted import ScriptItem as ScriptItem
from lash_core.handlers.scripted import call as call
from lash_core.handlers.scripted import error_reply as error_reply
from lash_core.handlers.scripted import reply as reply
from lash_core.handlers.tools import KeyMinter as KeyMinter
from lash_core.handlers.tools import Tool as Tool
from lash_core.handlers.tools import Toolbox as Toolbox
from lash_core.handlers.tools import ToolContext as ToolContext
from lash_core.handlers.tools import tool as tool

__all__ = [
    "Expect",
    "KeyMinter",
    "ScriptItem",
    "ScriptedCall",
    "ScriptedError",
    "ScriptedModel",
    "ScriptedReply",
    "Tool",
    "ToolContext",
    "Toolbox",
    "call",
    "error_reply",
    "reply",
    "tool",
]
