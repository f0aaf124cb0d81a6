"""copytrace as a ``threatexchange`` extension: the ``copytrace`` signal type for text.

Enable it in the threatexchange CLI (and so in HMA, which uses the same interfaces)::

    pip install "copytrace[threatexchange]"
    threatexchange config extensions add copytrace.threatexchange

The signal is the copytrace fingerprint string of a text; matching finds banked texts copied whole,
reformatted, excerpted or obfuscated, through copytrace's index (no linear scan).  Set
``COPYTRACE_KEY_FILE`` to hash with a consortium's secret key.  See ``docs/threatexchange.md``.
"""

from __future__ import annotations

try:
    from threatexchange.extensions.manifest import ThreatExchangeExtensionManifest
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "copytrace.threatexchange needs the threatexchange package: pip install 'copytrace[threatexchange]'"
    ) from exc

from .index import CopytraceIndex, CopytraceSimilarity
from .signal import CopytraceSignal

TX_MANIFEST = ThreatExchangeExtensionManifest(signal_types=(CopytraceSignal,))

__all__ = ["TX_MANIFEST", "CopytraceIndex", "CopytraceSignal", "CopytraceSimilarity"]
