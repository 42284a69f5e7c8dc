"""The heading path at the current reading position (root first)."""

from __future__ import annotations


class HeadingTrail:
    """Tracks open headings by level: a level-2 heading closes any open level-2
    or deeper heading and sits under the nearest shallower one. Levels may skip
    (h1 then h3) without inventing empty headings."""

    def __init__(self) -> None:
        self._open: list[tuple[int, str]] = []

    def enter(self, level: int, title: str) -> None:
        while self._open and self._open[-1][0] >= level:
            self._open.pop()
        self._open.append((level, title))

    @property
    def path(self) -> list[str]:
        return [title for _, title in self._open]
