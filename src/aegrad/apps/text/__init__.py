"""Text with a trained ``seq`` run: compression (codec.py), generation, classification from codes, gradient health
through time (the text-* commands).

The model family is aegrad/models/seq/; the data (corpora, vocabularies) is aegrad/data/text/.
"""
