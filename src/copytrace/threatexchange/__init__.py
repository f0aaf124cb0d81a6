"""copytrace as a ``threatexchange`` extension: the ``copytrace`` and ``copytrace_phrase`` text signal types.

Enable it in the threatexchange CLI::

    pip install "copytrace[threatexchange]"
    threatexchange config extensions add copytrace.threatexchange

HMA takes the signal types from its ``omm_config.py`` instead; run ``python -m copytrace.threatexchange``
where it is installed, to compile copytrace's inner loops before serving (``docs/threatexchange.md``).

The signal is the copytrace fingerprint string of a text; matching finds banked texts copied whole,
reformatted, excerpted or obfuscated, through copytrace's index (no linear scan).  Set
``COPYTRACE_KEY_FILE`` to hash with a consortium's secret key.  See ``docs/threatexchange.md``.

The ``copytrace_phrase`` signal type is a short text's phrase fingerprint (``copytrace.phrases``): equal for
every evasive spelling of the same words, so a post that is a banked slogan matches however it is typed.
"""

from __future__ import annotations

try:
    from threatexchange.extensions.manifest import ThreatExchangeExtensionManifest
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "copytrace.threatexchange needs the threatexchange package: pip install 'copytrace[threatexchange]'"
    ) from exc

from ._stream import IndexStreamError
from .index import CopytraceIndex, CopytraceSimilarity
from .phrase import CopytracePhraseIndex, CopytracePhraseSignal
from .signal import CopytraceSignal

TX_MANIFEST = ThreatExchangeExtensionManifest(signal_types=(CopytraceSignal, CopytracePhraseSignal))

__all__ = [
    "TX_MANIFEST",
    "CopytraceIndex",
    "CopytracePhraseIndex",
    "CopytracePhraseSignal",
    "CopytraceSignal",
    "CopytraceSimilarity",
    "IndexStreamError",
]
