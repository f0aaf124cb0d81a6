"""Text processing, the pipeline's first step: reading files (``textio``), stripping HTML (``html``),
folding text into hashed tokens (``normalize``, over the compiled ``_tokenize``), folding the evasive
spellings of short phrases (``phrase_fold``), and the word-frequency model of ordinary language
(``background``).  Nothing here knows fingerprints, indexes or stores."""
