"""Penn Treebank bracketed trees (``.mrg``), read into trees and :class:`lensnb.Example` lists.

A file holds trees such as ``( (S (NP-SBJ (NNP Pierre) (NNP Vinken)) (VP ...) (. .)) )``,
one after another and spread over many lines; the outer unlabelled bracket wraps the
sentence's top constituent (so does a ``(ROOT ...)`` or ``(TOP ...)`` bracket). Reading a tree:

1. empty elements (preterminal ``-NONE-``: traces ``*T*-1``, null complementisers ``0``,
   ``*U*``...) are removed, and so is every constituent left without words;
2. labels lose their function tags and indices (``NP-SBJ-1`` -> ``NP``, ``PP-LOC=2`` ->
   ``PP``; of an alternation ``ADVP|PRT`` the first is kept). The tags are kept in
   :attr:`Tree.function_tags` and the label as written in :attr:`Tree.raw_label`. POS
   tags such as ``-LRB-`` are kept as they are.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lensnb.data.files import as_path, line_error, read_text, refuse_empty
from lensnb.errors import LensError
from lensnb.examples import Example, Span
from lensnb.flags import checks_flags

__all__ = ["Constituent", "PTB_ESCAPES", "Tree", "read_ptb", "read_ptb_trees", "split_label", "tree_example"]

#: How :func:`read_ptb` writes the treebank's escaped tokens by default (``unescape=True``).
PTB_ESCAPES = {
    "-LRB-": "(", "-RRB-": ")", "-LCB-": "{", "-RCB-": "}", "-LSB-": "[", "-RSB-": "]", "``": '"', "''": '"',
}  # fmt: skip
_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_TRACE = "-NONE-"
_WRAPPERS = ("", "ROOT", "TOP")


@dataclass(frozen=True)
class Tree:
    """A constituent: a label and children, or a preterminal (a POS tag over one word).

    Attributes
    ----------
    label : str
        The category without function tags (``NP``), or the POS tag of a preterminal.
    children : tuple of Tree
        Empty for a preterminal.
    word : str or None
        The word of a preterminal, as written in the treebank; None otherwise.
    function_tags : tuple of str
        The function tags of the label as written (``("SBJ",)`` for ``NP-SBJ-1``).
    raw_label : str
        The label as written in the file (``NP-SBJ-1``).
    """

    label: str
    children: tuple[Tree, ...] = ()
    word: str | None = None
    function_tags: tuple[str, ...] = ()
    raw_label: str = ""

    @property
    def is_preterminal(self) -> bool:
        return self.word is not None

    def words(self) -> list[str]:
        """The words under this node, left to right."""
        return [leaf.word for leaf in self.preterminals()]

    def preterminals(self) -> list[Tree]:
        """The preterminals under this node, left to right."""
        if self.is_preterminal:
            return [self]
        return [leaf for child in self.children for leaf in child.preterminals()]

    def height(self) -> int:
        """Nodes on the longest path down to a word, the word included.

        A preterminal has height 2, as in NLTK's ``Tree.height`` (the convention that
        gives SentEval's tree depths; see :func:`lensnb.data.derived.tree_depth`).
        """
        if self.is_preterminal:
            return 2
        return 1 + max(child.height() for child in self.children)

    def top_constituents(self) -> tuple[str, ...]:
        """The labels of this node's children (SentEval's TopConst, e.g. ``("NP", "VP", ".")``)."""
        return tuple(child.label for child in self.children)

    def constituents(self) -> list[Constituent]:
        """Every non-terminal under and including this node (preterminals excluded), in pre-order."""
        found: list[Constituent] = []
        self._collect(0, 0, found)
        return found

    def _collect(self, start: int, depth: int, found: list[Constituent]) -> int:
        if self.is_preterminal:
            return start + 1
        slot = len(found)
        found.append(None)  # the parent goes before its children
        end = start
        for child in self.children:
            end = child._collect(end, depth + 1, found)
        found[slot] = Constituent(start, end, self.label, self.function_tags, self.raw_label, depth)
        return end


@dataclass(frozen=True)
class Constituent:
    """A non-terminal's word span ``words[start:end]`` (end exclusive) and its label.

    ``depth`` counts the edges from the top constituent (0 for the top one itself).
    """

    start: int
    end: int
    label: str
    function_tags: tuple[str, ...] = ()
    raw_label: str = ""
    depth: int = 0


def read_ptb_trees(path: str | os.PathLike) -> list[tuple[str, Tree]]:
    """Read bracketed trees, with empty elements removed and function tags stripped.

    Parameters
    ----------
    path : str or Path
        A ``.mrg`` file, or a folder whose ``.mrg`` files (searched recursively, in sorted
        order of their paths) are read: the NLTK sample's ``treebank`` or its
        ``combined`` folder, or a Penn Treebank release's ``parsed/mrg/wsj``.

    Returns
    -------
    list of (str, Tree)
        The file each tree came from (relative to ``path`` when it is a folder) and its
        top constituent (the child of the outer unlabelled bracket).

    Raises
    ------
    LensError
        If no ``.mrg`` file is found, or for unbalanced brackets, a bracket without a
        label, a word beside subtrees, or a tree with no word but traces; the message
        names the file and the line.

    References
    ----------
    Marcus, Santorini & Marcinkiewicz (1993), "Building a large annotated corpus of English:
    the Penn Treebank"; Bies et al. (1995), "Bracketing guidelines for Treebank II style".
    """
    root = as_path(path, "a .mrg file or a folder of them")
    if root.is_dir():
        files = sorted(root.rglob("*.mrg"))
        if not files:
            raise LensError.bad_argument("path", str(root), "a folder with .mrg files (searched recursively)")
    elif root.is_file():
        files = [root]
    else:
        raise LensError.bad_argument("path", str(root), "an existing .mrg file or a folder of them")
    trees = []
    for file in files:
        name = file.relative_to(root).as_posix() if root.is_dir() else file.name
        trees.extend((name, tree) for tree in _read_file(file))
    return refuse_empty(trees, path, "Penn Treebank trees")


@checks_flags
def read_ptb(path: str | os.PathLike, *, unescape: bool = True, merge_unary: bool = False) -> list[Example]:
    """Read bracketed trees into examples with POS labels and constituent spans.

    Parameters
    ----------
    path : str or Path
        As in :func:`read_ptb_trees`.
    unescape, merge_unary : bool
        As in :func:`tree_example`.

    Returns
    -------
    list of Example
        One per tree, from :func:`tree_example`, with ``meta`` ``file`` (the ``.mrg``
        file) and ``sentence`` (the index of the tree in the returned list) added.
    """
    return [
        tree_example(tree, unescape=unescape, merge_unary=merge_unary, meta={"file": name, "sentence": index})
        for index, (name, tree) in enumerate(read_ptb_trees(path))
    ]


@checks_flags
def tree_example(tree: Tree, *, unescape: bool = True, merge_unary: bool = False, meta: dict | None = None) -> Example:
    """One tree as an :class:`Example` for constituent (edge) probing and sentence tasks.

    Parameters
    ----------
    tree : Tree
        A top constituent from :func:`read_ptb_trees`.
    unescape : bool
        Write the treebank's escaped tokens as text (:data:`PTB_ESCAPES`: ``-LRB-`` ->
        ``(``, ````` and ``''`` -> ``"``; ``\\/`` -> ``/`` and ``\\*`` -> ``*``), so
        the model reads ordinary text. The ``pos`` labels are unchanged.
    merge_unary : bool
        Constituents with the same span (unary chains such as ``(NP (NP ...))`` or an
        ``S`` over a lone ``VP``) become one span whose label is the tuple of their
        labels, top first (a multi-label target). By default each is its own span.
    meta : dict, optional
        Extra text-level fields.

    Returns
    -------
    Example
        Words; per-word label ``pos``; ``spans``: every non-terminal, the top one
        included and preterminals excluded, ``Span(start, end, label)`` in pre-order;
        ``meta``: ``tree_depth`` (:meth:`Tree.height` of the top constituent) and
        ``top_constituents`` (its children's labels joined by ``_``, SentEval's form,
        e.g. ``"NP_VP_."``), plus ``meta``.

    References
    ----------
    Tenney et al. (2019), "What do you learn from context?" (constituent labelling over
    non-terminal spans); Conneau et al. (2018), "What you can cram into a single vector"
    (TreeDepth, TopConst).
    """
    if not isinstance(tree, Tree):
        raise LensError.bad_argument("tree", tree, "a lensnb.data.ptb.Tree (from read_ptb_trees)")
    leaves = tree.preterminals()
    words = [_unescape(leaf.word) if unescape else leaf.word for leaf in leaves]
    constituents = tree.constituents()
    if merge_unary:
        merged: dict[tuple[int, int], list[str]] = {}
        for c in constituents:
            merged.setdefault((c.start, c.end), []).append(c.label)
        spans = [Span(start, end, tuple(labels)) for (start, end), labels in merged.items()]
    else:
        spans = [Span(c.start, c.end, c.label) for c in constituents]
    info = {"tree_depth": tree.height(), "top_constituents": "_".join(tree.top_constituents())}
    return Example(
        words=words, labels={"pos": [leaf.label for leaf in leaves]}, spans=spans, meta={**info, **(meta or {})}
    )


def split_label(raw: str) -> tuple[str, tuple[str, ...]]:
    """``"NP-SBJ-1"`` -> ``("NP", ("SBJ",))``; labels like ``-NONE-`` or ``-LRB-`` stay whole."""
    if len(raw) > 1 and raw.startswith("-") and raw.endswith("-"):
        return raw, ()
    parts = re.split(r"[-=]", raw.split("|")[0])
    return parts[0], tuple(p for p in parts[1:] if p and not p.isdigit())


def _unescape(word: str) -> str:
    word = PTB_ESCAPES.get(word, word)
    return word.replace("\\/", "/").replace("\\*", "*") if "\\" in word else word


def _read_file(file: Path) -> Iterator[Tree]:
    text = read_text(file)
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def error(offset: int, expected: str, received) -> LensError:
        return line_error(file, bisect.bisect_right(line_starts, offset), expected, received)

    for node, offset in _brackets(text, error):
        if node[0] in _WRAPPERS and len(node[2]) == 1 and node[1] is None:
            node = node[2][0]  # the unlabelled outer bracket
        tree = _build(node, error)
        if tree is None:
            raise error(offset, "a tree with at least one word that is not a -NONE- empty element", "only traces")
        yield tree


def _brackets(text: str, error) -> Iterator[tuple[tuple, int]]:
    """Raw nodes ``(raw label, word or None, children, offset)`` of each top-level bracket, with its offset."""
    stack: list[list] = []  # [label, word, children, offset]
    expect_label = False
    for match in _TOKEN.finditer(text):
        token, offset = match.group(), match.start()
        if token == "(":
            if stack and stack[-1][1] is not None:
                raise error(offset, "')' after a word (a word cannot have siblings inside its bracket)", "'('")
            stack.append(["", None, [], offset])
            expect_label = True
        elif token == ")":
            if not stack:
                raise error(offset, "a ')' that closes an open '('", "an extra ')'")
            label, word, children, start = stack.pop()
            if word is None and not children:
                raise error(start, "a bracket holding a word or subtrees", f"({label})")
            node = (label, word, tuple(children), start)
            if stack:
                stack[-1][2].append(node)
            else:
                yield node, start
            expect_label = False
        elif not stack:
            raise error(offset, "'(' (the start of a tree)", token)
        elif expect_label:
            stack[-1][0] = token
            expect_label = False
        else:
            top = stack[-1]
            if top[1] is not None or top[2]:
                raise error(offset, f"one word or subtrees in the bracket of {top[0]!r}, not both", token)
            if not top[0]:
                raise error(offset, "a POS label before the word", token)
            top[1] = token
    if stack:
        raise error(stack[0][3], "a ')' for every '(' (this tree is never closed)", "end of file")


def _build(node: tuple, error) -> Tree | None:
    """A Tree without -NONE- elements or the constituents they leave empty (None if nothing is left)."""
    raw, word, children, offset = node
    if word is not None:
        return None if raw == _TRACE else Tree(raw, word=word, raw_label=raw)
    kept = tuple(child for child in (_build(c, error) for c in children) if child is not None)
    if not kept:
        return None
    if not raw:
        raise error(offset, "a label after '(' inside a tree (only the outer bracket may have none)", "'( ('")
    label, tags = split_label(raw)
    return Tree(label, kept, function_tags=tags, raw_label=raw)
