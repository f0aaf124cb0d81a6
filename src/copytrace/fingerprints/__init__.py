"""The fingerprint format: winnowed, keyed k-gram hashes of normalised text (``fingerprint``, many at once in
``batch``, over the compiled ``_hashing``), the phrase fingerprint of short texts (``phrase``, over
``_phrase_hashing``), the keys that make them private (``keys``), and the files that
carry them: JSONL records (``records``) and exchange lists (``exchange``).  Built on ``copytrace.text``."""
