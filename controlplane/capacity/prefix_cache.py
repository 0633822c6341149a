"""One replica's automatic prefix cache: full KV blocks kept by id, shared and evicted LRU.

Owns the block table of vLLM's automatic prefix caching as the engine model
needs it: a block id stands for one full block of ``block_tokens`` prompt
tokens *and everything before it* (Mooncake's ``hash_ids`` and vLLM's chained
block hashes both are), so a request's cached prefix is its longest run of
leading ids present. A block is *referenced* while some running request uses
it (its tokens count as used KV) and *unreferenced* once the last one
releases it: its tokens stay in the free part of the KV cache, still reusable,
until space is needed. Eviction takes unreferenced blocks least recently
released first; a request releases its blocks last-first, so a prefix's tail
goes before its head (vLLM's ``FreeKVCacheBlockQueue`` order). Counts are in
tokens; the caller (:class:`~controlplane.capacity.engine.ReplicaEngine`) keeps
the used-KV total and asks for eviction when the free part shrinks.
Pure: standard library only.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence

__all__ = ["PrefixCache"]


class PrefixCache:
    """Block ids -> reference counts; unreferenced ids in least-recently-released order."""

    def __init__(self, block_tokens: int) -> None:
        if block_tokens < 1:
            raise ValueError(f"block_tokens: must be >= 1, got {block_tokens}")
        self.block_tokens = block_tokens
        self._refs: dict[Hashable, int] = {}
        self._free: OrderedDict[Hashable, None] = OrderedDict()  # refs == 0, oldest first
        self.evicted_blocks = 0

    def __contains__(self, block: Hashable) -> bool:
        return block in self._refs

    def __len__(self) -> int:
        return len(self._refs)

    @property
    def unreferenced_tokens(self) -> int:
        """Tokens of cached blocks no request uses: free KV space that still holds a prefix."""
        return len(self._free) * self.block_tokens

    def match(self, blocks: Sequence[Hashable], limit: int | None = None) -> int:
        """How many leading ``blocks`` are cached (at most ``limit``)."""
        n = len(blocks) if limit is None else min(limit, len(blocks))
        k = 0
        while k < n and blocks[k] in self._refs:
            k += 1
        return k

    def revive_tokens(self, blocks: Sequence[Hashable]) -> int:
        """Tokens that referencing these cached ``blocks`` would move from free to used KV."""
        return sum(self.block_tokens for b in blocks if self._refs.get(b) == 0)

    def acquire(self, blocks: Sequence[Hashable]) -> int:
        """Reference cached ``blocks``; returns the tokens moved from free to used KV."""
        moved = 0
        for b in blocks:
            refs = self._refs[b]
            if refs == 0:
                del self._free[b]
                moved += self.block_tokens
            self._refs[b] = refs + 1
        return moved

    def adopt(self, block: Hashable) -> int:
        """A request finished computing ``block`` in KV of its own: cache it, or share the
        copy already cached. Returns the change in used KV tokens (0, or minus a block when
        the request's copy is dropped for one another request already holds)."""
        refs = self._refs.get(block)
        if refs is None:
            self._refs[block] = 1
            return 0
        self._refs[block] = refs + 1
        if refs == 0:
            del self._free[block]
            return 0  # the cached copy becomes used, the request's own copy is freed
        return -self.block_tokens

    def release(self, blocks: Sequence[Hashable]) -> int:
        """Drop one reference to each of ``blocks`` (last first); returns the tokens moved
        from used to free KV (blocks nobody references any more)."""
        moved = 0
        for b in reversed(blocks):
            refs = self._refs[b] - 1
            self._refs[b] = refs
            if refs == 0:
                self._free[b] = None
                moved += self.block_tokens
        return moved

    def evict_to(self, free_room: int) -> int:
        """Evict unreferenced blocks, oldest first, until they fit in ``free_room`` tokens;
        returns the number evicted."""
        n = 0
        while self._free and len(self._free) * self.block_tokens > free_room:
            b, _ = self._free.popitem(last=False)
            del self._refs[b]
            n += 1
        self.evicted_blocks += n
        return n
