"""Robustness evaluation: how often copytrace and its peers find a copy, and what they wrongly flag.

``perturb`` makes queries from banked documents (seeded and documented), ``methods`` wraps copytrace and
its peers behind one interface, ``suite`` builds the bank and the query set from a corpus, and ``report``
runs every method and writes the table and plots.  ``copytrace eval`` is the command line;
``reference`` builds a reference of stock phrases for the quote rule from a clean corpus; ``news``
assembles a corpus of news articles from the one a package on the package index ships.
"""
