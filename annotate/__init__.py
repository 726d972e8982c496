"""annotate: an annotation and gold-corpus tool for conflict-news text.

Offsets everywhere inside this package are Python ``str`` indices (Unicode code points),
end exclusive. Doccano's UTF-16 offsets are converted in ``annotate.doccano`` and nowhere else.
"""

__version__ = "0.1.0"
