"""Small charts as inline SVG, written by the server (no JavaScript, no CDN).

The SVG holds only shapes (each with a <title> for its tooltip); the words
around a chart (its scale, "oldest"/"newest") are HTML beside it, so they
follow the page's direction. In a right-to-left page the x axis is mirrored:
the oldest run is on the right, as the reader starts there."""

from django.utils.html import escape
from django.utils.safestring import mark_safe

WIDTH, HEIGHT = 300, 80
CELL, GAP = 6, 1


def _x(i, count, step, rtl):
    return (count - 1 - i) * step if rtl else i * step


def bars(values, titles, css_class, rtl=False, label=""):
    """A bar per value (None: no bar), scaled to the largest; ``titles`` the tooltip of each."""
    count = len(values)
    shown = [v for v in values if v is not None]
    top = max(shown) if shown else 0
    step = WIDTH / max(count, 1)
    parts = [f'<svg class="chart {escape(css_class)}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
             f'preserveAspectRatio="none" role="img" aria-label="{escape(label)}" data-count="{count}" '
             f'data-direction="{"rtl" if rtl else "ltr"}" xmlns="http://www.w3.org/2000/svg">',
             f'<line class="chart-axis" x1="0" y1="{HEIGHT - 0.5}" x2="{WIDTH}" y2="{HEIGHT - 0.5}"/>']
    for i, (value, title) in enumerate(zip(values, titles)):
        if value is None or top <= 0:
            continue
        h = max(1.0, (value / top) * (HEIGHT - 2))
        x = _x(i, count, step, rtl)
        w = max(1.0, step * 0.8)
        parts.append(f'<rect class="chart-bar" data-index="{i}" x="{x + step * 0.1:.2f}" y="{HEIGHT - 1 - h:.2f}" '
                     f'width="{w:.2f}" height="{h:.2f}"><title>{escape(title)}</title></rect>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def calendar(days, rtl=False, label=""):
    """A strip of day cells; ``days``: dicts with date, backups, kept (of them) and title, oldest first."""
    count = len(days)
    width = count * (CELL + GAP)
    parts = [f'<svg class="calendar" viewBox="0 0 {width} {CELL}" width="{width}" height="{CELL * 3}" '
             f'preserveAspectRatio="none" role="img" aria-label="{escape(label)}" data-count="{count}" '
             f'data-direction="{"rtl" if rtl else "ltr"}" xmlns="http://www.w3.org/2000/svg">']
    for i, day in enumerate(days):
        x = _x(i, count, CELL + GAP, rtl)
        kind = "cal-kept" if day.get("kept", day["backups"]) else ("cal-dropped" if day["backups"] else "cal-none")
        parts.append(f'<rect class="cal-day {kind}" data-date="{escape(day["date"])}" data-backups="{day["backups"]}" '
                     f'x="{x}" y="0" width="{CELL}" height="{CELL}"><title>{escape(day["title"])}</title></rect>')
    parts.append("</svg>")
    return mark_safe("".join(parts))
