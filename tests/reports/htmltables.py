"""A small HTML table reader for tests (the standard library only)."""

from html.parser import HTMLParser


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables = []  # (attrs, rows); a row is a list of (text, attrs)
        self._cell = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append((dict(attrs), []))
        elif tag == "tr" and self.tables:
            self.tables[-1][1].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = ["", dict(attrs)]

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][1][-1].append((self._cell[0].strip(), self._cell[1]))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data


def tables(page: str, css_class: str):
    """Every table with ``css_class``: a list of (attributes, rows of (text, attributes))."""
    parser = _Tables()
    parser.feed(page)
    return [(a, rows) for a, rows in parser.tables if css_class in a.get("class", "").split()]
